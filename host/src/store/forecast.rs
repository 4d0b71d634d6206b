//! What forecasting reads and writes: the snapshot grid (each sync's observation instant),
//! level history in batches of products, tenant settings and per-level overrides, the last
//! forecast of each level and the alert incident state of each level and rule.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Store, StoreError, now, on_pool};

/// A tenant's planning and alerting settings.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ForecastSettings {
    pub lead_time_days: f64,
    pub warning_buffer_days: f64,
    pub target_cover_days: f64,
    pub service_z: f64,
    /// Local hours `[from, to)` of quiet; both `None`: none.
    pub quiet_from: Option<i64>,
    pub quiet_to: Option<i64>,
    pub urgent_bypass_quiet: bool,
    pub digest_hour: i64,
    /// The local date (YYYY-MM-DD) of the last daily digest.
    pub last_digest_on: Option<String>,
}

impl Default for ForecastSettings {
    fn default() -> Self {
        Self {
            lead_time_days: 7.0,
            warning_buffer_days: 7.0,
            target_cover_days: 28.0,
            service_z: 1.645,
            quiet_from: Some(22),
            quiet_to: Some(9),
            urgent_bypass_quiet: true,
            digest_hour: 9,
            last_digest_on: None,
        }
    }
}

/// One level's own planning values (`None`: the tenant's).
#[derive(Debug, Clone, Default, PartialEq, sqlx::FromRow)]
pub struct Override {
    pub product_id: Uuid,
    pub warehouse: String,
    pub lead_time_days: Option<f64>,
    pub pack_size: Option<i64>,
    pub moq: Option<i64>,
    /// Units the seller has shipped to the warehouse, not yet there.
    pub in_transit: Option<i64>,
    pub muted_until: Option<DateTime<Utc>>,
}

/// A level of an active product, with the instant of the sync that first saw it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ForecastLevel {
    pub product_id: Uuid,
    pub warehouse: String,
    pub sku: String,
    pub name: String,
    pub available: i64,
    pub first_observed_at: Option<DateTime<Utc>>,
}

/// One change of a level: at its run's observation (or when recorded, for history older than
/// observations).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct LevelChange {
    pub product_id: Uuid,
    pub warehouse: String,
    pub at: DateTime<Utc>,
    pub previous_available: Option<i64>,
    pub available: i64,
}

/// Units ordered (or cancelled: negative) of a level at an instant.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct OrderRow {
    pub product_id: Uuid,
    pub warehouse: String,
    pub occurred_at: DateTime<Utc>,
    pub quantity: i64,
}

/// The last evaluation of a level, to store.
#[derive(Debug, Clone)]
pub struct ForecastRow {
    pub product_id: Uuid,
    pub warehouse: String,
    pub level: &'static str,
    pub status: &'static str,
    pub ship_by: Option<String>,
    /// The §5.4 fields as JSON.
    pub result: String,
}

/// A stored forecast.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredForecast {
    pub product_id: Uuid,
    pub warehouse: String,
    pub connection_id: Uuid,
    pub marketplace: String,
    pub sku: String,
    pub name: String,
    pub ship_by: Option<String>,
    pub result: String,
    pub computed_at: DateTime<Utc>,
    /// The connection's own sync interval, if it has one.
    pub sync_interval_seconds: Option<i32>,
}

/// An alert rule's row: its state machine and current (or last) incident.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct IncidentRow {
    pub product_id: Uuid,
    pub warehouse: String,
    pub rule: String,
    pub connection_id: Uuid,
    /// [`crate::forecast::incidents::State`] as JSON.
    pub state: String,
    pub seq: i64,
    pub level: String,
    pub max_level: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub last_change: Option<String>,
    pub last_notification: Option<String>,
    pub suppressed_by: Option<String>,
    pub changed_at: DateTime<Utc>,
    pub digest_pending: bool,
}

/// A stored incident with what identifies it for the seller.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredIncident {
    #[sqlx(flatten)]
    pub row: IncidentRow,
    pub marketplace: String,
    pub sku: String,
    pub name: String,
}

/// Filters of [`Store::list_forecasts`].
#[derive(Debug, Clone, Default)]
pub struct ForecastFilter {
    pub connection_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    pub warehouse: Option<String>,
    pub level: Option<String>,
    pub status: Option<String>,
}

/// Filters of [`Store::list_incidents`].
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Only open ones (level not `ok`), or only resolved ones.
    pub open: Option<bool>,
    pub connection_id: Option<Uuid>,
    pub rule: Option<String>,
}

const SETTINGS_COLUMNS: &str = "lead_time_days, warning_buffer_days, target_cover_days, service_z, quiet_from, \
     quiet_to, urgent_bypass_quiet, digest_hour, last_digest_on";

const INCIDENT_COLUMNS: &str = "i.product_id, i.warehouse, i.rule, i.connection_id, i.state, i.seq, i.level, \
     i.max_level, i.opened_at, i.resolved_at, i.last_change, i.last_notification, i.suppressed_by, i.changed_at, \
     i.digest_pending";

/// Rows per multi-row insert.
const CHUNK: usize = 500;

impl Store {
    /// Records the instant run `sync_run_id` observed its connection, and whether it completed.
    pub async fn record_observation(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        sync_run_id: Uuid,
        observed_at: DateTime<Utc>,
        complete: bool,
    ) -> Result<(), StoreError> {
        let sql = "INSERT INTO stock_observation (tenant_id, connection_id, sync_run_id, observed_at, complete) \
                   VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant_id, sync_run_id) DO UPDATE SET \
                   observed_at = excluded.observed_at, complete = excluded.complete";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(connection_id).bind(sync_run_id)
            .bind(observed_at).bind(complete).execute(p).await.map(drop)?);
        Ok(())
    }

    /// The instants of the connection's complete observations in `[from, to]`, in order.
    pub async fn complete_observations(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<DateTime<Utc>>, StoreError> {
        let sql = "SELECT observed_at FROM stock_observation WHERE tenant_id = $1 AND connection_id = $2 \
                   AND complete AND observed_at >= $3 AND observed_at <= $4 ORDER BY observed_at";
        Ok(on_pool!(self.pool(), p => sqlx::query_scalar(sql).bind(tenant_id).bind(connection_id)
            .bind(from).bind(to).fetch_all(p).await?))
    }

    /// The levels of the connection's active products, by product and warehouse.
    pub async fn forecast_levels(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
    ) -> Result<Vec<ForecastLevel>, StoreError> {
        let sql = "SELECT s.product_id, s.warehouse, p.sku, p.name, s.available, o.observed_at AS first_observed_at \
                   FROM stock_level s JOIN product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
                   LEFT JOIN stock_observation o ON o.tenant_id = s.tenant_id AND o.sync_run_id = s.first_sync_run_id \
                   WHERE s.tenant_id = $1 AND p.connection_id = $2 AND p.active \
                   ORDER BY s.product_id, s.warehouse";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_all(p).await?))
    }

    /// The changes of products `first..=last` at or after `since`, by product, warehouse and time.
    pub async fn level_changes(
        &self,
        tenant_id: Uuid,
        first: Uuid,
        last: Uuid,
        since: DateTime<Utc>,
    ) -> Result<Vec<LevelChange>, StoreError> {
        let sql = "SELECT h.product_id, h.warehouse, COALESCE(o.observed_at, h.recorded_at) AS at, \
                   h.previous_available, h.available \
                   FROM stock_history h LEFT JOIN stock_observation o \
                     ON o.tenant_id = h.tenant_id AND o.sync_run_id = h.sync_run_id \
                   WHERE h.tenant_id = $1 AND h.product_id >= $2 AND h.product_id <= $3 \
                     AND h.recorded_at >= $4 \
                   ORDER BY h.product_id, h.warehouse, at, h.stock_history_id";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(first).bind(last).bind(since)
            .fetch_all(p).await?))
    }

    /// Orders less cancellations of products `first..=last` of the connection at or after
    /// `since` (cancellations negative).
    pub async fn level_orders(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        first: Uuid,
        last: Uuid,
        since: DateTime<Utc>,
    ) -> Result<Vec<OrderRow>, StoreError> {
        let sql = "SELECT product_id, warehouse, occurred_at, \
                   CASE WHEN kind = 'cancel' THEN -quantity ELSE quantity END AS quantity \
                   FROM sale_event WHERE tenant_id = $1 AND connection_id = $2 AND kind IN ('order', 'cancel') \
                   AND product_id >= $3 AND product_id <= $4 AND occurred_unix >= $5 AND warehouse <> ''";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).bind(first)
            .bind(last).bind(since.timestamp()).fetch_all(p).await?))
    }

    /// The sales rate of each level of products `first..=last` at its last evaluation.
    pub async fn previous_rates(
        &self,
        tenant_id: Uuid,
        first: Uuid,
        last: Uuid,
    ) -> Result<HashMap<(Uuid, String), f64>, StoreError> {
        let sql = "SELECT product_id, warehouse, result FROM forecast WHERE tenant_id = $1 AND product_id >= $2 \
                   AND product_id <= $3";
        let rows: Vec<(Uuid, String, String)> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(first).bind(last).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .filter_map(|(id, w, result)| {
                let ads = serde_json::from_str::<serde_json::Value>(&result).ok()?["ads"].as_f64()?;
                Some(((id, w), ads))
            })
            .collect())
    }

    /// The tenant's forecast settings (the defaults until it sets some).
    pub async fn forecast_settings(&self, tenant_id: Uuid) -> Result<ForecastSettings, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {SETTINGS_COLUMNS} FROM forecast_settings WHERE tenant_id = $1"));
        let row: Option<ForecastSettings> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_optional(p).await?);
        Ok(row.unwrap_or_default())
    }

    /// Stores the tenant's forecast settings (the digest date is kept).
    pub async fn set_forecast_settings(&self, tenant_id: Uuid, s: &ForecastSettings) -> Result<(), StoreError> {
        let sql = "INSERT INTO forecast_settings (tenant_id, lead_time_days, warning_buffer_days, target_cover_days, \
                   service_z, quiet_from, quiet_to, urgent_bypass_quiet, digest_hour, updated_at) \
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant_id) DO UPDATE SET \
                   lead_time_days = excluded.lead_time_days, warning_buffer_days = excluded.warning_buffer_days, \
                   target_cover_days = excluded.target_cover_days, service_z = excluded.service_z, \
                   quiet_from = excluded.quiet_from, quiet_to = excluded.quiet_to, \
                   urgent_bypass_quiet = excluded.urgent_bypass_quiet, digest_hour = excluded.digest_hour, \
                   updated_at = excluded.updated_at";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(s.lead_time_days).bind(s.warning_buffer_days)
            .bind(s.target_cover_days).bind(s.service_z).bind(s.quiet_from).bind(s.quiet_to)
            .bind(s.urgent_bypass_quiet).bind(s.digest_hour).bind(now()).execute(p).await.map(drop)?);
        Ok(())
    }

    /// Claims the daily digest of `date` (the tenant's local date): true for exactly one caller
    /// per tenant and date, of however many instances.
    pub async fn claim_digest(&self, tenant_id: Uuid, date: &str) -> Result<bool, StoreError> {
        let defaults = ForecastSettings::default();
        on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            let insert = "INSERT INTO forecast_settings (tenant_id, lead_time_days, warning_buffer_days, \
                          target_cover_days, service_z, quiet_from, quiet_to, urgent_bypass_quiet, digest_hour, \
                          updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (tenant_id) DO NOTHING";
            sqlx::query(insert).bind(tenant_id).bind(defaults.lead_time_days).bind(defaults.warning_buffer_days)
                .bind(defaults.target_cover_days).bind(defaults.service_z).bind(defaults.quiet_from)
                .bind(defaults.quiet_to).bind(defaults.urgent_bypass_quiet).bind(defaults.digest_hour).bind(now())
                .execute(&mut *tx).await?;
            let claim = "UPDATE forecast_settings SET last_digest_on = $2 WHERE tenant_id = $1 \
                         AND (last_digest_on IS NULL OR last_digest_on < $2)";
            let claimed = sqlx::query(claim).bind(tenant_id).bind(date).execute(&mut *tx).await?.rows_affected() == 1;
            tx.commit().await?;
            Ok(claimed)
        })
    }

    /// The overrides of the connection's levels.
    pub async fn forecast_overrides(
        &self,
        tenant_id: Uuid,
        connection_id: Option<Uuid>,
    ) -> Result<HashMap<(Uuid, String), Override>, StoreError> {
        let sql = "SELECT o.product_id, o.warehouse, o.lead_time_days, o.pack_size, o.moq, o.in_transit, o.muted_until \
                   FROM forecast_override o JOIN product p ON p.tenant_id = o.tenant_id AND p.product_id = o.product_id \
                   WHERE o.tenant_id = $1 AND ($2 IS NULL OR p.connection_id = $2)";
        let rows: Vec<Override> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(|o| ((o.product_id, o.warehouse.clone()), o)).collect())
    }

    /// Stores one level's overrides (all `None`: removes them).
    pub async fn set_override(&self, tenant_id: Uuid, o: &Override) -> Result<(), StoreError> {
        let empty = o.lead_time_days.is_none()
            && o.pack_size.is_none()
            && o.moq.is_none()
            && o.in_transit.is_none()
            && o.muted_until.is_none();
        if empty {
            let sql = "DELETE FROM forecast_override WHERE tenant_id = $1 AND product_id = $2 AND warehouse = $3";
            on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(o.product_id).bind(&o.warehouse)
                .execute(p).await.map(drop)?);
            return Ok(());
        }
        let sql = "INSERT INTO forecast_override (tenant_id, product_id, warehouse, lead_time_days, pack_size, moq, \
                   in_transit, muted_until, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) \
                   ON CONFLICT (tenant_id, product_id, warehouse) DO UPDATE SET \
                   lead_time_days = excluded.lead_time_days, pack_size = excluded.pack_size, moq = excluded.moq, \
                   in_transit = excluded.in_transit, muted_until = excluded.muted_until, updated_at = excluded.updated_at";
        on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(o.product_id).bind(&o.warehouse)
            .bind(o.lead_time_days).bind(o.pack_size).bind(o.moq).bind(o.in_transit).bind(o.muted_until).bind(now())
            .execute(p).await.map(drop)?);
        Ok(())
    }

    /// One level's overrides, if any.
    pub async fn override_of(
        &self,
        tenant_id: Uuid,
        product_id: Uuid,
        warehouse: &str,
    ) -> Result<Override, StoreError> {
        let sql = "SELECT product_id, warehouse, lead_time_days, pack_size, moq, in_transit, muted_until \
                   FROM forecast_override WHERE tenant_id = $1 AND product_id = $2 AND warehouse = $3";
        let row: Option<Override> = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(product_id)
            .bind(warehouse).fetch_optional(p).await?);
        Ok(row.unwrap_or(Override { product_id, warehouse: warehouse.to_owned(), ..Override::default() }))
    }

    /// Whether the tenant has a level of `product_id` in `warehouse`.
    pub async fn level_exists(&self, tenant_id: Uuid, product_id: Uuid, warehouse: &str) -> Result<bool, StoreError> {
        let sql = "SELECT 1 FROM stock_level WHERE tenant_id = $1 AND product_id = $2 AND warehouse = $3";
        let row: Option<i32> = on_pool!(self.pool(), p => sqlx::query_scalar(sql).bind(tenant_id).bind(product_id)
            .bind(warehouse).fetch_optional(p).await?);
        Ok(row.is_some())
    }

    /// The incident rows of products `first..=last`.
    pub async fn incident_rows(
        &self,
        tenant_id: Uuid,
        first: Uuid,
        last: Uuid,
    ) -> Result<HashMap<(Uuid, String, String), IncidentRow>, StoreError> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {INCIDENT_COLUMNS} FROM alert_incident i WHERE i.tenant_id = $1 AND i.product_id >= $2 \
             AND i.product_id <= $3"
        ));
        let rows: Vec<IncidentRow> = on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(first)
            .bind(last).fetch_all(p).await?);
        Ok(rows.into_iter().map(|r| ((r.product_id, r.warehouse.clone(), r.rule.clone()), r)).collect())
    }

    /// Writes one batch's forecasts and incident rows in one transaction.
    pub async fn save_evaluation(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        at: DateTime<Utc>,
        forecasts: &[ForecastRow],
        incidents: &[IncidentRow],
    ) -> Result<(), StoreError> {
        on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            for chunk in forecasts.chunks(CHUNK) {
                let mut q = QueryBuilder::new("INSERT INTO forecast (tenant_id, product_id, warehouse, connection_id, \
                    level, status, ship_by, result, computed_at) ");
                q.push_values(chunk, |mut row, f| {
                    row.push_bind(tenant_id).push_bind(f.product_id).push_bind(f.warehouse.clone())
                        .push_bind(connection_id).push_bind(f.level).push_bind(f.status).push_bind(f.ship_by.clone())
                        .push_bind(f.result.clone()).push_bind(at);
                });
                q.push(" ON CONFLICT (tenant_id, product_id, warehouse) DO UPDATE SET connection_id = excluded.connection_id, \
                    level = excluded.level, status = excluded.status, ship_by = excluded.ship_by, \
                    result = excluded.result, computed_at = excluded.computed_at");
                q.build().execute(&mut *tx).await?;
            }
            for chunk in incidents.chunks(CHUNK) {
                let mut q = QueryBuilder::new("INSERT INTO alert_incident (tenant_id, product_id, warehouse, rule, \
                    connection_id, state, seq, level, max_level, opened_at, resolved_at, last_change, \
                    last_notification, suppressed_by, changed_at, digest_pending) ");
                q.push_values(chunk, |mut row, i| {
                    row.push_bind(tenant_id).push_bind(i.product_id).push_bind(i.warehouse.clone())
                        .push_bind(i.rule.clone()).push_bind(i.connection_id).push_bind(i.state.clone())
                        .push_bind(i.seq).push_bind(i.level.clone()).push_bind(i.max_level.clone())
                        .push_bind(i.opened_at).push_bind(i.resolved_at).push_bind(i.last_change.clone())
                        .push_bind(i.last_notification.clone()).push_bind(i.suppressed_by.clone())
                        .push_bind(i.changed_at).push_bind(i.digest_pending);
                });
                q.push(" ON CONFLICT (tenant_id, product_id, warehouse, rule) DO UPDATE SET \
                    connection_id = excluded.connection_id, state = excluded.state, seq = excluded.seq, \
                    level = excluded.level, max_level = excluded.max_level, opened_at = excluded.opened_at, \
                    resolved_at = excluded.resolved_at, last_change = excluded.last_change, \
                    last_notification = excluded.last_notification, suppressed_by = excluded.suppressed_by, \
                    changed_at = excluded.changed_at, digest_pending = excluded.digest_pending");
                q.build().execute(&mut *tx).await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Up to `limit` stored forecasts, soonest ship-by first (none last), after `after`
    /// (`(ship_by or "~", product_id, warehouse)`).
    pub async fn list_forecasts(
        &self,
        tenant_id: Uuid,
        filter: &ForecastFilter,
        after: Option<&(String, Uuid, String)>,
        limit: u32,
    ) -> Result<Vec<StoredForecast>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new("SELECT f.product_id, f.warehouse, f.connection_id, c.marketplace, p.sku, \
                p.name, f.ship_by, f.result, f.computed_at, c.sync_interval_seconds FROM forecast f \
                JOIN product p ON p.tenant_id = f.tenant_id AND p.product_id = f.product_id \
                JOIN marketplace_connection c ON c.tenant_id = f.tenant_id AND c.connection_id = f.connection_id \
                WHERE p.active AND f.tenant_id = ");
            q.push_bind(tenant_id);
            if let Some(id) = filter.connection_id {
                q.push(" AND f.connection_id = ").push_bind(id);
            }
            if let Some(id) = filter.product_id {
                q.push(" AND f.product_id = ").push_bind(id);
            }
            if let Some(w) = &filter.warehouse {
                q.push(" AND f.warehouse = ").push_bind(w.clone());
            }
            if let Some(l) = &filter.level {
                q.push(" AND f.level = ").push_bind(l.clone());
            }
            if let Some(s) = &filter.status {
                q.push(" AND f.status = ").push_bind(s.clone());
            }
            if let Some((ship_by, product_id, warehouse)) = after {
                q.push(" AND (COALESCE(f.ship_by, '~'), f.product_id, f.warehouse) > (").push_bind(ship_by.clone())
                    .push(", ").push_bind(*product_id).push(", ").push_bind(warehouse.clone()).push(")");
            }
            q.push(" ORDER BY COALESCE(f.ship_by, '~'), f.product_id, f.warehouse LIMIT ").push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        }))
    }

    /// Up to `limit` incidents, most recently changed first, after `after` (`(changed_at,
    /// product_id, warehouse, rule)`).
    pub async fn list_incidents(
        &self,
        tenant_id: Uuid,
        filter: &IncidentFilter,
        after: Option<&(DateTime<Utc>, Uuid, String, String)>,
        limit: u32,
    ) -> Result<Vec<StoredIncident>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new(format!("SELECT {INCIDENT_COLUMNS}, c.marketplace, p.sku, p.name \
                FROM alert_incident i JOIN product p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id \
                JOIN marketplace_connection c ON c.tenant_id = i.tenant_id AND c.connection_id = i.connection_id \
                WHERE i.seq > 0 AND i.tenant_id = "));
            q.push_bind(tenant_id);
            match filter.open {
                Some(true) => { q.push(" AND i.level <> 'ok'"); }
                Some(false) => { q.push(" AND i.level = 'ok'"); }
                None => {}
            }
            if let Some(id) = filter.connection_id {
                q.push(" AND i.connection_id = ").push_bind(id);
            }
            if let Some(rule) = &filter.rule {
                q.push(" AND i.rule = ").push_bind(rule.clone());
            }
            if let Some((changed_at, product_id, warehouse, rule)) = after {
                q.push(" AND (i.changed_at < ").push_bind(*changed_at).push(" OR (i.changed_at = ").push_bind(*changed_at)
                    .push(" AND (i.product_id, i.warehouse, i.rule) > (").push_bind(*product_id).push(", ")
                    .push_bind(warehouse.clone()).push(", ").push_bind(rule.clone()).push(")))");
            }
            q.push(" ORDER BY i.changed_at DESC, i.product_id, i.warehouse, i.rule LIMIT ").push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        }))
    }

    /// Every incident of the tenant that is open or went to the digest since the last one, with
    /// the current forecasts of their levels (the daily digest's input); and clears the digest
    /// marks.
    pub async fn take_digest(&self, tenant_id: Uuid) -> Result<Vec<StoredIncident>, StoreError> {
        on_pool!(self.pool(), p => {
            let mut tx = p.begin_write().await?;
            let sql = sqlx::AssertSqlSafe(format!("SELECT {INCIDENT_COLUMNS}, c.marketplace, p.sku, p.name \
                FROM alert_incident i JOIN product p ON p.tenant_id = i.tenant_id AND p.product_id = i.product_id \
                JOIN marketplace_connection c ON c.tenant_id = i.tenant_id AND c.connection_id = i.connection_id \
                WHERE i.tenant_id = $1 AND (i.level <> 'ok' OR i.digest_pending) \
                ORDER BY i.product_id, i.warehouse, i.rule"));
            let rows: Vec<StoredIncident> = sqlx::query_as(sql).bind(tenant_id).fetch_all(&mut *tx).await?;
            sqlx::query("UPDATE alert_incident SET digest_pending = FALSE WHERE tenant_id = $1 AND digest_pending")
                .bind(tenant_id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(rows)
        })
    }

    /// Tenants with at least one incident row (the digest's candidates).
    pub async fn tenants_with_incidents(&self) -> Result<Vec<Uuid>, StoreError> {
        let sql = "SELECT DISTINCT tenant_id FROM alert_incident";
        Ok(on_pool!(self.pool(), p => sqlx::query_scalar(sql).fetch_all(p).await?))
    }
}

/// A stored forecast of a level at a warning level or worse.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AlertingForecast {
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    pub level: String,
    pub ship_by: Option<String>,
    pub result: String,
}

impl Store {
    /// The tenant's forecasts at a warning level or worse, soonest ship-by first.
    pub async fn alerting_forecasts(&self, tenant_id: Uuid) -> Result<Vec<AlertingForecast>, StoreError> {
        let sql = "SELECT p.sku, p.name, f.warehouse, f.level, f.ship_by, f.result FROM forecast f \
                   JOIN product p ON p.tenant_id = f.tenant_id AND p.product_id = f.product_id \
                   WHERE f.tenant_id = $1 AND p.active AND f.level <> 'ok' \
                   ORDER BY COALESCE(f.ship_by, '~'), f.product_id, f.warehouse";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_all(p).await?))
    }
}
