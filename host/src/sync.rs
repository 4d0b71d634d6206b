//! The sync engine (the seed's ProductService): brings one connection's products and stock in
//! through its marketplace adapter.
//!
//! A run is carried by a durable job ([`crate::jobs`]): starting a sync ([`start`], or the
//! scheduler in [`schedule`]) records a `queued` run and its job in one transaction, and whichever
//! worker of whichever instance claims the job runs an attempt ([`job`]). The run row is what
//! the seller sees; the job is how it survives a crash, a deploy, a marketplace asking to wait.
//!
//! An attempt pages through products, then stocks, calling the adapter once per page (the host
//! drives pagination, so every call is short). Each page is written in one transaction with
//! batched statements; a history row is appended only where a quantity changed. Products the
//! marketplace stopped reporting are marked inactive once the product listing completed, never
//! deleted; stock levels the completed stock listing no longer reports are set to zero (with
//! history). When the marketplace answers `rate-limited(n)`, the attempt waits `n` seconds and
//! retries the same page, up to `SYNC_MAX_RATE_LIMIT_WAIT_SECS` in total; a longer wait ends the
//! attempt and defers the run by `n` seconds ([`SyncError::RateLimited`]). A failed attempt
//! leaves everything written before it as it was: no deletion, no deactivation.
//!
//! Each page call takes the adapter's current version from the registry, so a hot swap applies
//! from the next page on.

mod config;
pub mod job;
pub mod schedule;

pub use config::{MAX_INTERVAL_SECS, SyncConfig};

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::App;
use crate::plugins::CallError;
use crate::plugins::bindings::stock_tracker::marketplace::types::{AdapterError, CallContext, PageRequest};
use crate::store::StoreError;
use crate::store::connections::ConnectionRecord;
use crate::store::products::NewProduct;
use crate::store::stocks::ObservedStock;
use crate::store::sync_runs::{SyncRun, SyncTrigger};
use crate::telemetry::reporting::{self, Level};

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
    /// marketplace's (bad credentials, a marketplace that is down or limiting us).
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

    /// Whether another attempt may pass: the marketplace failed or was slow, the database
    /// hiccuped, the adapter is being replaced. Refused credentials, a broken adapter or bad
    /// settings will fail the same way again.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Plugin(CallError::Adapter(e)) => matches!(e, AdapterError::Upstream(_)),
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
    let outcome = transaction.bind(run(app, connection, run_id, progress)).await;
    transaction.finish(outcome.as_ref().err().map(|e| (e as &(dyn std::error::Error + 'static), e.is_ours())));
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    let counts = progress.counts();
    match &outcome {
        Ok(()) => tracing::info!(tenant.id = %tenant_id, connection.id = %connection_id, sync_run.id = %run_id,
            products = counts.0, stocks = counts.1, changes = counts.2, duration_ms = started.elapsed().as_millis() as u64,
            "sync {run_id} succeeded"),
        Err(err) => tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, sync_run.id = %run_id,
            error = %err, duration_ms = started.elapsed().as_millis() as u64, "sync {run_id} attempt ended: {err}"),
    }
    outcome
}

async fn run(app: &App, connection: &ConnectionRecord, run_id: Uuid, progress: &mut Progress) -> Result<(), SyncError> {
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    let marketplace = connection.marketplace.clone();
    // Settings stored before a grant was withdrawn (or before the adapter stopped reading a key)
    // stop the run with the reason, rather than reach a host the operator no longer allows.
    if let serde_json::Value::Object(settings) = &connection.settings.0 {
        let plugin = current_adapter(app, &marketplace)?;
        crate::plugins::settings::check(&app.config.plugins, &plugin.manifest, tenant_id, settings)
            .map_err(|e| SyncError::Settings(e.to_string()))?;
    }
    let ctx = call_context(app, connection).await?;
    let page_size = app.config.sync.sync_page_size;
    let phase_started = crate::store::now();

    // Products.
    let mut pager = Pager::new("products", page_size);
    while let Some(page) = pager.next_request() {
        let result = with_rate_limit(app, progress, || async {
            let plugin = current_adapter(app, &marketplace)?;
            Ok(app.plugins.runtime().list_products(&plugin, ctx.clone(), page.clone()).await?)
        })
        .await?;
        let products: Vec<NewProduct> = result.items.into_iter().map(new_product).collect();
        progress.products += products.len() as i64;
        reporting::breadcrumb("sync", Level::Info, || {
            format!("products page {}: {} item(s)", pager.pages + 1, products.len())
        });
        app.store.upsert_products(tenant_id, connection_id, &products).await?;
        app.store.sync_run_progress(tenant_id, run_id, progress.counts()).await?;
        pager.advance(result.next_cursor)?;
    }
    let gone = app.store.deactivate_products_not_seen_since(tenant_id, connection_id, phase_started).await?;
    if gone > 0 {
        tracing::info!(tenant.id = %tenant_id, connection.id = %connection_id, products = gone, "{gone} product(s) no longer reported: marked inactive");
    }

    // Stocks.
    let ids = app.store.product_ids_by_sku(tenant_id, connection_id).await?;
    let mut unknown = 0usize;
    let mut seen: HashSet<(Uuid, String)> = HashSet::new();
    let mut pager = Pager::new("stocks", page_size);
    while let Some(page) = pager.next_request() {
        let result = with_rate_limit(app, progress, || async {
            let plugin = current_adapter(app, &marketplace)?;
            Ok(app.plugins.runtime().fetch_stocks(&plugin, ctx.clone(), page.clone()).await?)
        })
        .await?;
        progress.stocks += result.items.len() as i64;
        reporting::breadcrumb("sync", Level::Info, || {
            format!("stocks page {}: {} row(s)", pager.pages + 1, result.items.len())
        });
        let observed: Vec<ObservedStock> = result
            .items
            .into_iter()
            .filter_map(|s| match ids.get(&s.sku) {
                Some(id) => Some(ObservedStock {
                    product_id: *id,
                    warehouse: s.warehouse,
                    available: s.available,
                    in_transit_to_client: s.in_transit_to_client,
                    in_transit_from_client: s.in_transit_from_client,
                }),
                None => {
                    unknown += 1;
                    None
                }
            })
            .collect();
        seen.extend(observed.iter().map(|o| (o.product_id, o.warehouse.clone())));
        progress.changes += app.store.record_stock_levels(tenant_id, &observed, Some(run_id)).await? as i64;
        app.store.sync_run_progress(tenant_id, run_id, progress.counts()).await?;
        pager.advance(result.next_cursor)?;
    }
    // The listing is complete: what it no longer reports is at zero (WB's report leaves out
    // warehouses that ran empty). Zeroed like any change, with history.
    let gone: Vec<ObservedStock> = app
        .store
        .nonzero_stock_levels_of_connection(tenant_id, connection_id)
        .await?
        .into_iter()
        .filter(|pair| !seen.contains(pair))
        .map(|(product_id, warehouse)| ObservedStock {
            product_id,
            warehouse,
            available: 0,
            in_transit_to_client: 0,
            in_transit_from_client: 0,
        })
        .collect();
    if !gone.is_empty() {
        progress.changes += app.store.record_stock_levels(tenant_id, &gone, Some(run_id)).await? as i64;
        app.store.sync_run_progress(tenant_id, run_id, progress.counts()).await?;
        tracing::info!(tenant.id = %tenant_id, connection.id = %connection_id, levels = gone.len(),
            "{} stock level(s) no longer reported: set to zero", gone.len());
    }
    if unknown > 0 {
        tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, rows = unknown,
            "{unknown} stock row(s) name a SKU the product listing did not have; skipped");
    }
    // Complete: levels that crossed their thresholds become events.
    crate::events::evaluate_stock(app, connection).await?;
    Ok(())
}

/// The host side of adapter pagination for one phase: which page to ask for next, and the guards
/// against an adapter whose cursor never ends or repeats.
struct Pager {
    phase: &'static str,
    page_size: u32,
    cursor: Option<String>,
    seen: HashSet<String>,
    pages: usize,
    done: bool,
}

impl Pager {
    fn new(phase: &'static str, page_size: u32) -> Self {
        Self { phase, page_size, cursor: None, seen: HashSet::new(), pages: 0, done: false }
    }

    /// The next page to request, or `None` once the adapter returned no cursor.
    fn next_request(&self) -> Option<PageRequest> {
        (!self.done).then(|| PageRequest { cursor: self.cursor.clone(), page_size: self.page_size })
    }

    /// Takes the cursor the adapter returned for the page just fetched.
    fn advance(&mut self, next: Option<String>) -> Result<(), SyncError> {
        self.pages += 1;
        match next {
            None => self.done = true,
            Some(_) if self.pages >= MAX_PAGES => return Err(SyncError::TooManyPages(self.phase)),
            Some(next) if !self.seen.insert(next.clone()) => return Err(SyncError::CursorLoop(self.phase)),
            Some(next) => self.cursor = Some(next),
        }
        Ok(())
    }
}

/// The adapter version serving `marketplace` now; each page asks again, so a hot swap applies
/// from the next page on.
fn current_adapter(app: &App, marketplace: &str) -> Result<Arc<crate::plugins::LoadedPlugin>, SyncError> {
    app.plugins.for_marketplace(marketplace).ok_or_else(|| SyncError::NoAdapter(marketplace.to_owned()))
}

/// Retries `call` while the marketplace answers `rate-limited`, within the run's wait budget.
async fn with_rate_limit<T, F, Fut>(app: &App, progress: &mut Progress, mut call: F) -> Result<T, SyncError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, SyncError>>,
{
    let budget = app.config.sync.sync_max_rate_limit_wait_secs;
    loop {
        match call().await {
            Err(SyncError::Plugin(CallError::Adapter(AdapterError::RateLimited(secs)))) => {
                let wait = secs.max(1);
                if progress.rate_limit_waited + wait > budget {
                    return Err(SyncError::RateLimited(wait));
                }
                progress.rate_limit_waited += wait;
                tracing::info!(wait_s = wait, "marketplace rate limit: waiting {wait} s before retrying the page");
                tokio::time::sleep(Duration::from_secs(wait)).await;
            }
            other => return other,
        }
    }
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

fn new_product(p: crate::plugins::bindings::stock_tracker::marketplace::types::Product) -> NewProduct {
    NewProduct {
        sku: p.sku,
        marketplace_id: p.marketplace_id,
        barcode: p.barcodes.into_iter().next(),
        name: p.name,
        brand: p.brand,
        price_minor: p.price_minor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pager_follows_cursors_and_stops_loops() {
        let mut pager = Pager::new("products", 100);
        assert_eq!(pager.next_request().unwrap().cursor, None);
        pager.advance(Some("a".into())).unwrap();
        assert_eq!(pager.next_request().unwrap().cursor.as_deref(), Some("a"));
        pager.advance(Some("b".into())).unwrap();
        assert!(matches!(pager.advance(Some("a".into())), Err(SyncError::CursorLoop("products"))));
        let mut pager = Pager::new("stocks", 100);
        pager.advance(None).unwrap();
        assert!(pager.next_request().is_none());
    }
}
