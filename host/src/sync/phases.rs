//! The phases of an attempt, in order: products, prices, stocks, the seller's own stocks, sales. Each pages through one
//! adapter export ([`Pager`]) and writes every page as it comes. A deferred run saves its
//! [`Position`] (the phases it finished, where the current one stood), so the next attempt
//! continues there, with the adapter's resume value.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::pager::{Pager, PagerState};
use super::{Progress, SyncError, call_context};
use crate::App;
use crate::plugins::LoadedPlugin;
use crate::plugins::bindings::{
    CallContext, Capability, ProductRef, SaleKind as WitSaleKind, WarehouseKind as WitKind,
};
use crate::plugins::runtime::Scope;
use crate::store::connections::ConnectionRecord;
use crate::store::products::{NewPrice, NewProduct};
use crate::store::sales::{NewSale, SaleKind};
use crate::store::stocks::{ObservedStock, WarehouseKind};
use crate::telemetry::reporting::{self, Level};

/// `sync_state` name of the cursor the sales phase ended with (the next run starts there).
pub(super) const SALES_CURSOR: &str = "sales.cursor";
/// `sync_state` name of a deferred run's [`Position`].
const POSITION: &str = "run.position";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Phase {
    Products,
    Prices,
    Stocks,
    SellerStocks,
    Sales,
}

impl Phase {
    const ALL: [Phase; 5] = [Phase::Products, Phase::Prices, Phase::Stocks, Phase::SellerStocks, Phase::Sales];

    fn name(self) -> &'static str {
        match self {
            Self::Products => "products",
            Self::Prices => "prices",
            Self::Stocks => "stocks",
            Self::SellerStocks => "seller stocks",
            Self::Sales => "sales",
        }
    }

    /// The capability the phase's export needs, if optional.
    fn needs(self) -> Option<Capability> {
        match self {
            Self::Products | Self::Stocks => None,
            Self::Prices => Some(Capability::Prices),
            Self::SellerStocks => Some(Capability::SellerStock),
            Self::Sales => Some(Capability::Sales),
        }
    }
}

/// Where a deferred run stood.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Position {
    run_id: Uuid,
    done: Vec<Phase>,
    current: Option<(Phase, PagerState, DateTime<Utc>)>,
    /// When the stock listing began: levels no write touched since are zeroed once every stock
    /// phase is done.
    stocks_started: Option<DateTime<Utc>>,
}

/// A connection's scope for spooled bodies: its own, so no other connection reads them.
pub(super) fn scope(connection: &ConnectionRecord) -> Scope {
    Scope(connection.connection_id)
}

/// What every phase works with.
struct Env<'a> {
    app: &'a App,
    connection: &'a ConnectionRecord,
    ctx: CallContext,
    run_id: Uuid,
}

impl Env<'_> {
    /// The adapter version serving the connection now; each page asks again, so a hot swap
    /// applies from the next page on.
    fn adapter(&self) -> Result<std::sync::Arc<LoadedPlugin>, SyncError> {
        current_adapter(self.app, &self.connection.marketplace)
    }
}

fn current_adapter(app: &App, marketplace: &str) -> Result<std::sync::Arc<LoadedPlugin>, SyncError> {
    app.plugins.for_marketplace(marketplace).ok_or_else(|| SyncError::NoAdapter(marketplace.to_owned()))
}

/// One attempt: every phase not yet done for this run, then the stock evaluation.
pub(super) async fn run(
    app: &App,
    connection: &ConnectionRecord,
    run_id: Uuid,
    progress: &mut Progress,
) -> Result<(), SyncError> {
    let (tenant_id, connection_id) = (connection.tenant_id, connection.connection_id);
    // Settings stored before a grant was withdrawn (or before the adapter stopped reading a key)
    // stop the run with the reason, rather than reach a host the operator no longer allows.
    if let serde_json::Value::Object(settings) = &connection.settings.0 {
        let plugin = current_adapter(app, &connection.marketplace)?;
        crate::plugins::settings::check(&app.config.plugins, &plugin.info, tenant_id, settings)
            .map_err(|e| SyncError::Settings(e.to_string()))?;
    }
    let env = Env { app, connection, ctx: call_context(app, connection).await?, run_id };
    let saved = app.store.sync_state(tenant_id, connection_id, POSITION).await?;
    let mut position = saved
        .and_then(|text| serde_json::from_str::<Position>(&text).ok())
        .filter(|p| p.run_id == run_id)
        .unwrap_or(Position { run_id, done: Vec::new(), current: None, stocks_started: None });
    if !position.done.is_empty() || position.current.is_some() {
        tracing::info!(sync_run.id = %run_id, done = ?position.done, "resuming a deferred run");
    }
    for phase in Phase::ALL {
        if position.done.contains(&phase) {
            continue;
        }
        if phase.needs().is_some_and(|c| !env.adapter().is_ok_and(|p| p.can(c))) {
            continue;
        }
        let (state, started) = match position.current.take() {
            Some((p, state, started)) if p == phase => (state, started),
            _ => (PagerState::default(), crate::store::now()),
        };
        let mut pager = Pager::resume(phase.name(), app.config.sync.sync_page_size, state);
        if phase == Phase::Stocks {
            position.stocks_started.get_or_insert(started);
        }
        let result = match phase {
            Phase::Products => products(&env, &mut pager, started, progress).await,
            Phase::Prices => prices(&env, &mut pager, progress).await,
            Phase::Stocks => stocks(&env, &mut pager, progress).await,
            Phase::SellerStocks => seller_stocks(&env, &mut pager, progress).await,
            Phase::Sales => sales(&env, &mut pager, progress).await,
        };
        match result {
            Ok(()) => position.done.push(phase),
            Err(err) => {
                let deferred = matches!(err, SyncError::RateLimited(_));
                position.current = Some((phase, pager.state.clone(), started));
                let saved = deferred.then(|| serde_json::to_string(&position).expect("a position serializes"));
                app.store.set_sync_state(tenant_id, connection_id, POSITION, saved.as_deref()).await?;
                return Err(err);
            }
        }
    }
    if let Some(since) = position.stocks_started {
        zero_unseen_levels(&env, since, progress).await?;
    }
    app.store.set_sync_state(tenant_id, connection_id, POSITION, None).await?;
    // Complete: levels that crossed their thresholds become events; every level is forecast as
    // of this observation and its alert incidents stepped.
    crate::events::evaluate_stock(app, connection).await?;
    crate::forecast::service::after_sync(app, connection, run_id).await?;
    Ok(())
}

async fn products(
    env: &Env<'_>,
    pager: &mut Pager,
    started: DateTime<Utc>,
    progress: &mut Progress,
) -> Result<(), SyncError> {
    let (app, tenant_id, connection_id) = (env.app, env.connection.tenant_id, env.connection.connection_id);
    while pager.next_request().is_some() {
        let page = pager
            .fetch(app, progress, |req| async move {
                let plugin = env.adapter()?;
                Ok(app.plugins.runtime().list_products(&plugin, scope(env.connection), env.ctx.clone(), req).await?)
            })
            .await?;
        let products: Vec<NewProduct> = page.items.into_iter().map(new_product).collect();
        progress.products += products.len() as i64;
        reporting::breadcrumb("sync", Level::Info, || {
            format!("products page {}: {} item(s)", pager.pages() + 1, products.len())
        });
        app.store.upsert_products(tenant_id, connection_id, &products).await?;
        app.store.sync_run_progress(tenant_id, env.run_id, progress.counts()).await?;
        pager.advance(page.next_cursor)?;
    }
    let gone = app.store.deactivate_products_not_seen_since(tenant_id, connection_id, started).await?;
    if gone > 0 {
        tracing::info!(tenant.id = %tenant_id, connection.id = %connection_id, products = gone,
            "{gone} product(s) no longer reported: marked inactive");
    }
    Ok(())
}

async fn prices(env: &Env<'_>, pager: &mut Pager, progress: &mut Progress) -> Result<(), SyncError> {
    let (app, tenant_id, connection_id) = (env.app, env.connection.tenant_id, env.connection.connection_id);
    while pager.next_request().is_some() {
        let page = pager
            .fetch(app, progress, |req| async move {
                let plugin = env.adapter()?;
                Ok(app.plugins.runtime().fetch_prices(&plugin, scope(env.connection), env.ctx.clone(), req).await?)
            })
            .await?;
        let prices: Vec<(String, NewPrice)> = page.items.into_iter().map(|p| (p.sku, new_price(p.price))).collect();
        progress.prices += app.store.set_prices(tenant_id, connection_id, &prices).await? as i64;
        pager.advance(page.next_cursor)?;
    }
    Ok(())
}

async fn stocks(env: &Env<'_>, pager: &mut Pager, progress: &mut Progress) -> Result<(), SyncError> {
    let (app, tenant_id, connection_id) = (env.app, env.connection.tenant_id, env.connection.connection_id);
    let ids = app.store.product_ids_by_sku(tenant_id, connection_id).await?;
    let resumed = pager.pages() > 0;
    let mut unknown = 0usize;
    let mut transit_seen: HashSet<String> = HashSet::new();
    while pager.next_request().is_some() {
        let page = pager
            .fetch(app, progress, |req| async move {
                let plugin = env.adapter()?;
                Ok(app.plugins.runtime().fetch_stocks(&plugin, scope(env.connection), env.ctx.clone(), req).await?)
            })
            .await?;
        record_levels(env, page.items, &ids, &mut unknown, pager.pages(), progress).await?;
        let transit: Vec<(String, i64, i64)> = page
            .in_transit
            .into_iter()
            .filter(|t| ids.contains_key(&t.sku))
            .map(|t| (t.sku, t.to_client, t.from_client))
            .collect();
        transit_seen.extend(transit.iter().map(|t| t.0.clone()));
        app.store.set_in_transit(tenant_id, connection_id, &transit).await?;
        app.store.sync_run_progress(tenant_id, env.run_id, progress.counts()).await?;
        pager.advance(page.next_cursor)?;
    }
    // In-transit counts of an interrupted listing were partly seen by the earlier attempt: they
    // are left as they are until a listing completes in one attempt.
    if !resumed {
        let stale: Vec<(String, i64, i64)> = app
            .store
            .skus_in_transit(tenant_id, connection_id)
            .await?
            .into_iter()
            .filter(|sku| !transit_seen.contains(sku))
            .map(|sku| (sku, 0, 0))
            .collect();
        app.store.set_in_transit(tenant_id, connection_id, &stale).await?;
    }
    if unknown > 0 {
        tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, rows = unknown,
            "{unknown} stock row(s) name a SKU the product listing did not have; skipped");
    }
    Ok(())
}

/// The seller's own warehouses, for every batch of 1,000 products with a variant id. The pager's
/// cursor is `<batch>` or `<batch>:<adapter cursor>`.
async fn seller_stocks(env: &Env<'_>, pager: &mut Pager, progress: &mut Progress) -> Result<(), SyncError> {
    let (app, tenant_id, connection_id) = (env.app, env.connection.tenant_id, env.connection.connection_id);
    let ids = app.store.product_ids_by_sku(tenant_id, connection_id).await?;
    let variants = app.store.variant_ids(tenant_id, connection_id).await?;
    let batches: Vec<&[(String, String)]> = variants.chunks(SELLER_BATCH).collect();
    let mut unknown = 0usize;
    while let Some(request) = pager.next_request() {
        let (batch, inner) = split_batch_cursor(request.cursor.as_deref());
        let Some(&batch_products) = batches.get(batch) else {
            pager.advance(None)?;
            break;
        };
        let page = pager
            .fetch(app, progress, |mut req| {
                req.cursor = inner.clone();
                async move {
                    let plugin = env.adapter()?;
                    let (scope, ctx) = (scope(env.connection), env.ctx.clone());
                    let products = batch_products
                        .iter()
                        .map(|(sku, variant_id)| ProductRef { sku: sku.clone(), variant_id: variant_id.clone() })
                        .collect();
                    Ok(app.plugins.runtime().fetch_seller_stocks(&plugin, scope, ctx, req, products).await?)
                }
            })
            .await?;
        record_levels(env, page.items, &ids, &mut unknown, pager.pages(), progress).await?;
        app.store.sync_run_progress(tenant_id, env.run_id, progress.counts()).await?;
        let next = match page.next_cursor {
            Some(inner) => Some(format!("{batch}:{inner}")),
            None => (batch + 1 < batches.len()).then(|| (batch + 1).to_string()),
        };
        pager.advance(next)?;
    }
    if unknown > 0 {
        tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, rows = unknown,
            "{unknown} seller stock row(s) name a SKU the product listing did not have; skipped");
    }
    Ok(())
}

/// Variant ids per `fetch-seller-stocks` call (WB takes at most 1,000 `chrtIds`).
const SELLER_BATCH: usize = 1000;

/// `<batch>[:<adapter cursor>]` → the batch index and the adapter's cursor.
fn split_batch_cursor(cursor: Option<&str>) -> (usize, Option<String>) {
    let Some(cursor) = cursor else { return (0, None) };
    let (batch, inner) = cursor.split_once(':').map_or((cursor, None), |(b, i)| (b, Some(i.to_owned())));
    (batch.parse().unwrap_or(usize::MAX), inner)
}

/// Writes a page of levels of known SKUs (others counted in `unknown`).
async fn record_levels(
    env: &Env<'_>,
    levels: Vec<crate::plugins::bindings::StockLevel>,
    ids: &HashMap<String, Uuid>,
    unknown: &mut usize,
    page: usize,
    progress: &mut Progress,
) -> Result<(), SyncError> {
    progress.stocks += levels.len() as i64;
    reporting::breadcrumb("sync", Level::Info, || format!("stocks page {}: {} row(s)", page + 1, levels.len()));
    let observed: Vec<ObservedStock> = levels
        .into_iter()
        .filter_map(|s| match ids.get(&s.sku) {
            Some(id) => Some(ObservedStock {
                product_id: *id,
                warehouse: s.warehouse,
                kind: match s.warehouse_kind {
                    WitKind::Marketplace => WarehouseKind::Marketplace,
                    WitKind::Seller => WarehouseKind::Seller,
                },
                warehouse_id: s.warehouse_id,
                available: s.available,
            }),
            None => {
                *unknown += 1;
                None
            }
        })
        .collect();
    let store = &env.app.store;
    progress.changes += store.record_stock_levels(env.connection.tenant_id, &observed, Some(env.run_id)).await? as i64;
    Ok(())
}

/// Once every stock phase is done: what the listings no longer report is at zero (WB's report
/// leaves out warehouses that ran empty). Zeroed like any change, with history.
async fn zero_unseen_levels(env: &Env<'_>, since: DateTime<Utc>, progress: &mut Progress) -> Result<(), SyncError> {
    let (app, tenant_id, connection_id) = (env.app, env.connection.tenant_id, env.connection.connection_id);
    let gone: Vec<ObservedStock> = app
        .store
        .stock_levels_not_seen_since(tenant_id, connection_id, since)
        .await?
        .into_iter()
        .map(|(product_id, warehouse, kind, warehouse_id)| ObservedStock {
            product_id,
            warehouse,
            kind,
            warehouse_id,
            available: 0,
        })
        .collect();
    if !gone.is_empty() {
        progress.changes += app.store.record_stock_levels(tenant_id, &gone, Some(env.run_id)).await? as i64;
        app.store.sync_run_progress(tenant_id, env.run_id, progress.counts()).await?;
        tracing::info!(tenant.id = %tenant_id, connection.id = %connection_id, levels = gone.len(),
            "{} stock level(s) no longer reported: set to zero", gone.len());
    }
    Ok(())
}

async fn sales(env: &Env<'_>, pager: &mut Pager, progress: &mut Progress) -> Result<(), SyncError> {
    let (app, tenant_id, connection_id) = (env.app, env.connection.tenant_id, env.connection.connection_id);
    if pager.pages() == 0 && pager.state.cursor.is_none() {
        pager.state.cursor = app.store.sync_state(tenant_id, connection_id, SALES_CURSOR).await?;
    }
    let ids = app.store.product_ids_by_sku(tenant_id, connection_id).await?;
    let mut unknown = 0usize;
    while pager.next_request().is_some() {
        let page = pager
            .fetch(app, progress, |req| async move {
                let plugin = env.adapter()?;
                Ok(app.plugins.runtime().fetch_sales(&plugin, scope(env.connection), env.ctx.clone(), req).await?)
            })
            .await?;
        let sales = new_sales(page.items, &ids, &mut unknown);
        progress.sales += app.store.record_sales(tenant_id, connection_id, &sales).await? as i64;
        // Written after the events: a crash between the two fetches them again, and they are
        // stored idempotently.
        app.store.set_sync_state(tenant_id, connection_id, SALES_CURSOR, Some(&page.cursor)).await?;
        pager.advance(page.more.then_some(page.cursor))?;
    }
    if unknown > 0 {
        tracing::warn!(tenant.id = %tenant_id, connection.id = %connection_id, events = unknown,
            "{unknown} sale event(s) name a SKU the product listing does not have; skipped");
    }
    Ok(())
}

fn new_product(p: crate::plugins::bindings::Product) -> NewProduct {
    NewProduct {
        sku: p.sku,
        marketplace_id: p.marketplace_id,
        barcode: p.barcodes.into_iter().next(),
        name: p.name,
        brand: p.brand,
        variant_id: p.variant_id,
        price: p.price.map(new_price),
    }
}

fn new_price(p: crate::plugins::bindings::Price) -> NewPrice {
    NewPrice {
        base_minor: p.base_minor,
        discounted_minor: p.discounted_minor,
        discount_percent: p.discount_percent.map(i64::from),
        currency: p.currency,
    }
}

/// Sale events of known products as stored; events of unknown SKUs or with no valid time are
/// counted in `unknown` and skipped.
fn new_sales(
    events: Vec<crate::plugins::bindings::SaleEvent>,
    ids: &HashMap<String, Uuid>,
    unknown: &mut usize,
) -> Vec<NewSale> {
    events
        .into_iter()
        .filter_map(|e| {
            let (Some(product_id), Some(occurred_at)) = (ids.get(&e.sku), DateTime::from_timestamp_millis(e.at_ms))
            else {
                *unknown += 1;
                return None;
            };
            Some(NewSale {
                event_id: e.event_id,
                kind: match e.kind {
                    WitSaleKind::Order => SaleKind::Order,
                    WitSaleKind::Sale => SaleKind::Sale,
                    WitSaleKind::Return => SaleKind::Return,
                    WitSaleKind::Cancel => SaleKind::Cancel,
                },
                product_id: *product_id,
                warehouse: e.warehouse.filter(|w| !w.is_empty()),
                quantity: e.quantity,
                price_minor: e.price_minor,
                occurred_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seller_batch_cursors_carry_the_batch_and_the_adapters_cursor() {
        assert_eq!(split_batch_cursor(None), (0, None));
        assert_eq!(split_batch_cursor(Some("3")), (3, None));
        assert_eq!(split_batch_cursor(Some("3:w:12:x")), (3, Some("w:12:x".into())));
        assert_eq!(split_batch_cursor(Some("junk")).0, usize::MAX, "an unknown batch ends the phase");
    }
}
