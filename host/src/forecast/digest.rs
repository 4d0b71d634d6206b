//! The daily digest (§5.6): once a day at the tenant's digest hour (09:00 in its time zone by
//! default), a `stock.forecast.digest` event with the open incidents by level, the changes that
//! waited for it (warnings opened in quiet hours, de-escalations), the most urgent levels by
//! ship-by date, what resolved since the last digest, and the shipment plan per warehouse.
//! Each tenant's digest of a date is claimed once in the database, so of several instances one
//! sends it; a tenant with nothing open and nothing new gets none.

use std::collections::BTreeMap;

use chrono::Timelike;
use serde_json::{Value, json};
use uuid::Uuid;

use super::service::tz_of;
use crate::App;
use crate::store::StoreError;
use crate::store::events::NewEvent;

/// Items each list of the digest holds at most.
const TOP: usize = 10;

/// Sends the digests that are due at the clock's now. Returns how many.
pub async fn send_due(app: &App) -> Result<usize, StoreError> {
    let at = app.clock.now();
    let mut sent = 0;
    for tenant_id in app.store.tenants_with_incidents().await? {
        let tenant = match app.store.tenant(tenant_id).await {
            Ok(t) => t,
            Err(StoreError::NotFound) => continue,
            Err(err) => return Err(err),
        };
        let local = at.with_timezone(&tz_of(&tenant.timezone));
        let settings = app.store.forecast_settings(tenant_id).await?;
        let date = local.date_naive().to_string();
        let due = i64::from(local.hour()) >= settings.digest_hour
            && settings.last_digest_on.as_deref().is_none_or(|last| last < date.as_str());
        if !due || !app.store.claim_digest(tenant_id, &date).await? {
            continue;
        }
        if let Some(data) = build(app, tenant_id, &date).await? {
            crate::events::record(app, tenant_id, &[NewEvent { event_type: "stock.forecast.digest", data }], None)
                .await?;
            sent += 1;
        }
    }
    Ok(sent)
}

/// The digest of `date`, or `None` when there is nothing to tell.
async fn build(app: &App, tenant_id: Uuid, date: &str) -> Result<Option<Value>, StoreError> {
    let incidents = app.store.take_digest(tenant_id).await?;
    if incidents.is_empty() {
        return Ok(None);
    }
    let forecasts = app.store.alerting_forecasts(tenant_id).await?;
    let mut open = BTreeMap::from([("oos", 0), ("critical", 0), ("warning", 0)]);
    let (mut deferred, mut resolved) = (Vec::new(), Vec::new());
    for i in &incidents {
        if let Some(n) = open.get_mut(i.row.level.as_str()) {
            *n += 1;
        }
        let item = crate::telegram::forecast::digest_item(i, None);
        if i.row.digest_pending && i.row.level != "ok" && i.row.last_notification.as_deref() == Some("digest") {
            deferred.push(item);
        } else if i.row.digest_pending && i.row.level == "ok" && i.row.resolved_at.is_some() {
            resolved.push(item);
        }
    }
    let mut shipments: BTreeMap<String, i64> = BTreeMap::new();
    let mut top = Vec::new();
    for f in &forecasts {
        let result: Value = serde_json::from_str(&f.result).unwrap_or_default();
        *shipments.entry(f.warehouse.clone()).or_default() += result["suggested_qty"].as_i64().unwrap_or(0);
        if top.len() < TOP {
            top.push(json!({
                "level": f.level, "sku": f.sku, "name": f.name, "warehouse": f.warehouse, "ship_by": f.ship_by,
                "suggested_qty": result["suggested_qty"],
            }));
        }
    }
    shipments.retain(|_, units| *units > 0);
    deferred.truncate(TOP);
    resolved.truncate(TOP);
    Ok(Some(json!({
        "date": date, "open": open, "deferred": deferred, "top": top, "resolved": resolved, "shipments": shipments,
    })))
}
