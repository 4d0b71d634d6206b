//! Forecasts, the restock plan and alert incidents: what to restock, where, and by when.
//!
//! - `GET /forecasts`: the last evaluation of each level (after each complete sync), soonest
//!   ship-by date first; `status` is `stale` when the connection has not completed a sync for
//!   twice its interval.
//! - `GET /restock-plan`: a product's limited seller stock split across its warehouses by equal
//!   projected cover, never above a warehouse's need.
//! - `GET /incidents`: alert incidents, most recently changed first.
//! - `GET`/`PUT /forecast-settings`: the tenant's lead time, buffer, target cover, service level,
//!   quiet hours and digest hour; `GET`/`PUT /forecast-overrides`: one level's lead time, pack,
//!   minimum order, units already shipped, mute. Changes apply from the connection's next sync.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::{ApiError, ErrorBody};
use crate::forecast::allocation::{Demand, allocate};
use crate::forecast::wire_name;
use crate::store::forecast::{
    ForecastFilter, ForecastSettings, IncidentFilter, Override, StoredForecast, StoredIncident,
};

/// Days of cover: a number, or `"inf"` when nothing sells.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Days {
    Finite(f64),
    Infinite(Infinite),
}

/// Nothing sells: the stock never runs out.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Infinite {
    Inf,
}

/// How far to trust the sales rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Confidence {
    /// At least 7 in-stock days in the last 28.
    High,
    /// At least 7 in-stock days in the last 56 or 90.
    Medium,
    /// 3 to 7 in-stock days in 90.
    Low,
    /// Fewer: no rate.
    None,
}

/// What the evaluation found (§5.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ForecastStatus {
    Ok,
    /// It sold nothing while in stock: no cover alerts.
    NoSales,
    /// Too few in-stock days for a rate: no cover alerts.
    CollectingData,
    /// Nothing on hand while it sells.
    Oos,
    /// The connection has not completed a sync for twice its interval: the figures are old.
    Stale,
}

/// The alert level of a level (cover with what is on its way, against the lead time `L` and
/// `L` + buffer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertLevel {
    Ok,
    Warning,
    Critical,
    Oos,
}

/// The §5.4 fields as stored.
#[derive(Debug, Deserialize)]
struct Result {
    as_of: NaiveDate,
    ads: Option<f64>,
    ads_window_days: i64,
    confidence: Confidence,
    exposure_days: f64,
    sales_in_window: f64,
    sigma_daily: Option<f64>,
    lost_units_est: Option<f64>,
    available: i64,
    pipeline: i64,
    cover_days: Option<Days>,
    cover_days_total: Option<Days>,
    stockout_date: Option<NaiveDate>,
    ship_by: Option<NaiveDate>,
    rop: Option<f64>,
    reorder: bool,
    suggested_qty: u32,
    status: ForecastStatus,
    level: AlertLevel,
}

/// The forecast of one product in one warehouse.
#[derive(Debug, Serialize, ToSchema)]
pub struct ForecastView {
    pub product_id: Uuid,
    pub connection_id: Uuid,
    pub marketplace: String,
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    /// The day evaluated (the tenant's time zone).
    pub as_of: NaiveDate,
    /// Units sold per in-stock day; null: too little history.
    pub ads: Option<f64>,
    /// The window the rate comes from: 28, 56 or 90 days.
    pub ads_window_days: i64,
    pub confidence: Confidence,
    /// In-stock days in the window.
    pub exposure_days: f64,
    pub sales_in_window: f64,
    /// Standard deviation of daily sales.
    pub sigma_daily: Option<f64>,
    /// Sales missed while out of stock in the window, estimated.
    pub lost_units_est: Option<f64>,
    pub available: i64,
    /// Units on their way to the warehouse (entered as "already shipped").
    pub pipeline: i64,
    /// Days what is on hand lasts: a number, `"inf"`, or null without a rate.
    pub cover_days: Option<Days>,
    /// Days what is on hand and on its way lasts.
    pub cover_days_total: Option<Days>,
    pub stockout_date: Option<NaiveDate>,
    /// The last day to ship for the goods to arrive before the stock-out (stock-out − lead time).
    pub ship_by: Option<NaiveDate>,
    /// Reorder point: sales over the lead time plus safety stock.
    pub rop: Option<f64>,
    /// On hand and on its way are at or below the reorder point.
    pub reorder: bool,
    /// Units to ship (whole packs, at least the minimum order), 0 for none.
    pub suggested_qty: u32,
    pub status: ForecastStatus,
    pub level: AlertLevel,
    pub computed_at: DateTime<Utc>,
}

/// `GET /forecasts` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListForecastsQuery {
    pub connection_id: Option<Uuid>,
    pub product_id: Option<Uuid>,
    /// Exact warehouse name.
    pub warehouse: Option<String>,
    pub level: Option<AlertLevel>,
    /// `stale` is decided when read, so it is not a filter.
    pub status: Option<ForecastStatus>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

fn forecast_view(f: StoredForecast, now: DateTime<Utc>, default_interval: u32) -> Option<ForecastView> {
    let r: Result = serde_json::from_str(&f.result).ok()?;
    let interval = f.sync_interval_seconds.map_or(i64::from(default_interval), i64::from);
    let stale = now - f.computed_at > chrono::Duration::seconds(2 * interval);
    Some(ForecastView {
        product_id: f.product_id,
        connection_id: f.connection_id,
        marketplace: f.marketplace,
        sku: f.sku,
        name: f.name,
        warehouse: f.warehouse,
        as_of: r.as_of,
        ads: r.ads,
        ads_window_days: r.ads_window_days,
        confidence: r.confidence,
        exposure_days: r.exposure_days,
        sales_in_window: r.sales_in_window,
        sigma_daily: r.sigma_daily,
        lost_units_est: r.lost_units_est,
        available: r.available,
        pipeline: r.pipeline,
        cover_days: r.cover_days,
        cover_days_total: r.cover_days_total,
        stockout_date: r.stockout_date,
        ship_by: r.ship_by,
        rop: r.rop,
        reorder: r.reorder,
        suggested_qty: r.suggested_qty,
        status: if stale { ForecastStatus::Stale } else { r.status },
        level: r.level,
        computed_at: f.computed_at,
    })
}

/// `GET /api/v1/forecasts`: each level's last forecast, soonest ship-by date first (levels
/// that never run out last).
#[utoipa::path(get, path = "/forecasts", tag = "forecasts", security(("bearer" = [])), params(ListForecastsQuery),
    responses((status = 200, description = "Forecasts by ship-by date", body = Page<ForecastView>)))]
pub async fn list_forecasts(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListForecastsQuery>,
) -> std::result::Result<Json<Page<ForecastView>>, ApiError> {
    let limit = limit(q.limit)?;
    if q.status == Some(ForecastStatus::Stale) {
        return Err(ApiError::invalid("status", "stale is decided when read; filter on the others"));
    }
    let after = decode_cursor::<(String, Uuid, String)>(q.cursor.as_deref())?;
    let filter = ForecastFilter {
        connection_id: q.connection_id,
        product_id: q.product_id,
        warehouse: q.warehouse,
        level: q.level.map(wire_name),
        status: q.status.map(wire_name),
    };
    let rows = app.store.list_forecasts(user.tenant_id, &filter, after.as_ref(), limit + 1).await?;
    let page = Page::from_rows(rows, limit, |f| {
        (f.ship_by.clone().unwrap_or_else(|| "~".into()), f.product_id, f.warehouse.clone())
    });
    let (now, interval) = (app.clock.now(), app.config.sync.sync_default_interval_secs);
    Ok(Json(Page {
        items: page.items.into_iter().filter_map(|f| forecast_view(f, now, interval)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// `GET /restock-plan` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct RestockPlanQuery {
    /// The product to ship.
    pub product_id: Uuid,
    /// Units the seller has to ship, 0 to 10,000,000.
    #[param(minimum = 0, maximum = 10000000)]
    pub seller_stock: i64,
}

/// One warehouse's share.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestockItem {
    pub warehouse: String,
    pub ads: Option<f64>,
    pub available: i64,
    pub pipeline: i64,
    /// The suggested shipment: what the warehouse needs.
    pub need: u32,
    /// Its share of the seller's stock.
    pub allocated: u32,
    /// Days on hand, on its way and allocated last; `"inf"` when nothing sells.
    pub cover_days_after: Option<Days>,
    pub ship_by: Option<NaiveDate>,
}

/// A product's seller stock split across its warehouses.
#[derive(Debug, Serialize, ToSchema)]
pub struct RestockPlan {
    pub product_id: Uuid,
    pub seller_stock: i64,
    /// Units allocated: the seller's stock, or the total need when that is less.
    pub allocated: u32,
    pub items: Vec<RestockItem>,
}

/// `GET /api/v1/restock-plan`: the seller's stock of a product split across its warehouses by
/// equal projected cover (§5.3.7), in whole packs, never above a warehouse's need.
#[utoipa::path(get, path = "/restock-plan", tag = "forecasts", security(("bearer" = [])), params(RestockPlanQuery),
    responses((status = 200, description = "The split", body = RestockPlan),
              (status = 404, description = "No such product", body = ErrorBody)))]
pub async fn get_restock_plan(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<RestockPlanQuery>,
) -> std::result::Result<Json<RestockPlan>, ApiError> {
    if !(0..=10_000_000).contains(&q.seller_stock) {
        return Err(ApiError::invalid("seller_stock", "must be between 0 and 10000000"));
    }
    app.store.product(user.tenant_id, q.product_id).await?;
    let filter = ForecastFilter { product_id: Some(q.product_id), ..ForecastFilter::default() };
    let rows = app.store.list_forecasts(user.tenant_id, &filter, None, crate::api::pagination::MAX_LIMIT).await?;
    let settings = app.store.forecast_settings(user.tenant_id).await?;
    let overrides = app.store.forecast_overrides(user.tenant_id, None).await?;
    let mut demands = Vec::new();
    let mut parsed = Vec::new();
    let mut packs = std::collections::BTreeSet::new();
    for f in rows {
        let Ok(r) = serde_json::from_str::<Result>(&f.result) else { continue };
        let o = overrides.get(&(f.product_id, f.warehouse.clone()));
        let s = crate::forecast::service::settings_of(&settings, o);
        packs.insert(s.pack);
        demands.push(Demand {
            ads: r.ads.unwrap_or(0.0),
            position: r.available as f64,
            pipeline: r.pipeline as f64,
            lead_time_days: s.lead_time_days,
            need: r.suggested_qty,
        });
        parsed.push((f.warehouse, r));
    }
    // One pack size for all the warehouses when they share it; else whole units.
    let pack = if packs.len() == 1 { packs.into_iter().next().unwrap_or(1) } else { 1 };
    let shares = allocate(&demands, q.seller_stock as u32, pack);
    let items: Vec<RestockItem> = parsed
        .into_iter()
        .zip(shares)
        .map(|((warehouse, r), allocated)| {
            let units = (r.available + r.pipeline + i64::from(allocated)) as f64;
            let cover_days_after =
                r.ads.map(|ads| if ads > 0.0 { Days::Finite(units / ads) } else { Days::Infinite(Infinite::Inf) });
            RestockItem {
                warehouse,
                ads: r.ads,
                available: r.available,
                pipeline: r.pipeline,
                need: r.suggested_qty,
                allocated,
                cover_days_after,
                ship_by: r.ship_by,
            }
        })
        .collect();
    let allocated = items.iter().map(|i| i.allocated).sum();
    Ok(Json(RestockPlan { product_id: q.product_id, seller_stock: q.seller_stock, allocated, items }))
}

/// Open or resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentState {
    Open,
    Resolved,
    All,
}

/// `GET /incidents` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListIncidentsQuery {
    /// Default `open`.
    #[param(inline)]
    pub state: Option<IncidentState>,
    pub connection_id: Option<Uuid>,
    /// `oos` or `stock_cover`.
    pub rule: Option<AlertRule>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What an incident is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AlertRule {
    /// Nothing on hand while it sells.
    Oos,
    /// Cover at or below `L` + buffer (warning) or `L` (critical).
    StockCover,
}

/// An alert incident: the current (or last) one of a level and rule.
#[derive(Debug, Serialize, ToSchema)]
pub struct IncidentView {
    /// `{dedup_key}#{seq}`.
    pub incident_id: String,
    /// `{tenant}:{marketplace}:{sku}:{warehouse}:{rule}`.
    pub dedup_key: String,
    pub seq: i64,
    pub rule: AlertRule,
    /// `ok` once resolved.
    pub level: AlertLevel,
    /// The highest level it reached.
    pub max_level: AlertLevel,
    pub product_id: Uuid,
    pub connection_id: Uuid,
    pub marketplace: String,
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    pub opened_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// `opened`, `escalated`, `repeated`, `deescalated`, `resolved`, or `pending`/`unchanged`.
    pub last_change: Option<String>,
    /// How the last evaluation told it: `push`, `digest` or `none`.
    pub last_notification: Option<String>,
    /// Why a push was not made: `pending`, `quiet_hours`, `repeat_interval`, `inhibited`,
    /// `muted`, `stale_data`, `already_shipped`.
    pub suppressed_by: Option<String>,
    pub changed_at: DateTime<Utc>,
}

/// A stored wire name as its enum.
fn parse<T: serde::de::DeserializeOwned>(s: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).ok()
}

fn incident_view(tenant_id: Uuid, i: StoredIncident) -> Option<IncidentView> {
    let key = crate::forecast::service::dedup_key(tenant_id, &i.marketplace, &i.sku, &i.row.warehouse, &i.row.rule);
    Some(IncidentView {
        incident_id: format!("{key}#{}", i.row.seq),
        dedup_key: key,
        seq: i.row.seq,
        rule: parse(&i.row.rule)?,
        level: parse(&i.row.level)?,
        max_level: parse(&i.row.max_level)?,
        product_id: i.row.product_id,
        connection_id: i.row.connection_id,
        marketplace: i.marketplace,
        sku: i.sku,
        name: i.name,
        warehouse: i.row.warehouse,
        opened_at: i.row.opened_at,
        resolved_at: i.row.resolved_at,
        last_change: i.row.last_change,
        last_notification: i.row.last_notification,
        suppressed_by: i.row.suppressed_by,
        changed_at: i.row.changed_at,
    })
}

/// `GET /api/v1/incidents`: alert incidents, most recently changed first.
#[utoipa::path(get, path = "/incidents", tag = "forecasts", security(("bearer" = [])), params(ListIncidentsQuery),
    responses((status = 200, description = "Incidents, most recently changed first", body = Page<IncidentView>)))]
pub async fn list_incidents(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListIncidentsQuery>,
) -> std::result::Result<Json<Page<IncidentView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<(DateTime<Utc>, Uuid, String, String)>(q.cursor.as_deref())?;
    let open = match q.state.unwrap_or(IncidentState::Open) {
        IncidentState::Open => Some(true),
        IncidentState::Resolved => Some(false),
        IncidentState::All => None,
    };
    let filter = IncidentFilter { open, connection_id: q.connection_id, rule: q.rule.map(wire_name) };
    let rows = app.store.list_incidents(user.tenant_id, &filter, after.as_ref(), limit + 1).await?;
    let page = Page::from_rows(rows, limit, |i| {
        (i.row.changed_at, i.row.product_id, i.row.warehouse.clone(), i.row.rule.clone())
    });
    Ok(Json(Page {
        items: page.items.into_iter().filter_map(|i| incident_view(user.tenant_id, i)).collect(),
        next_cursor: page.next_cursor,
    }))
}

/// The tenant's planning and alerting settings.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastSettingsView {
    /// L: days from shipping to sellable at the warehouse, more than 0 and at most 365.
    #[schema(exclusive_minimum = 0, maximum = 365)]
    pub lead_time_days: f64,
    /// B: a warning at cover ≤ L + B; 0 to 365.
    #[schema(minimum = 0, maximum = 365)]
    pub warning_buffer_days: f64,
    /// T: days of cover a shipment is for; 1 to 365.
    #[schema(minimum = 1, maximum = 365)]
    pub target_cover_days: f64,
    /// z of the cycle service level (1.645: 95 %); 0 to 5.
    #[schema(minimum = 0, maximum = 5)]
    pub service_z: f64,
    /// Local hour quiet hours start (0–23), with `quiet_to`; both null: none.
    #[schema(minimum = 0, maximum = 23)]
    pub quiet_from: Option<u8>,
    /// Local hour quiet hours end (exclusive).
    #[schema(minimum = 0, maximum = 23)]
    pub quiet_to: Option<u8>,
    /// Critical and out-of-stock alerts go out in quiet hours.
    pub urgent_bypass_quiet: bool,
    /// Local hour of the daily digest (0–23).
    #[schema(minimum = 0, maximum = 23)]
    pub digest_hour: u8,
}

impl From<ForecastSettings> for ForecastSettingsView {
    fn from(s: ForecastSettings) -> Self {
        let hour = |h: i64| h.clamp(0, 23) as u8;
        Self {
            lead_time_days: s.lead_time_days,
            warning_buffer_days: s.warning_buffer_days,
            target_cover_days: s.target_cover_days,
            service_z: s.service_z,
            quiet_from: s.quiet_from.map(hour),
            quiet_to: s.quiet_to.map(hour),
            urgent_bypass_quiet: s.urgent_bypass_quiet,
            digest_hour: hour(s.digest_hour),
        }
    }
}

/// A finite number in `range`, or the field's error.
fn check(
    field: &str,
    v: f64,
    range: std::ops::RangeInclusive<f64>,
    low_open: bool,
) -> std::result::Result<f64, ApiError> {
    let ok = v.is_finite() && range.contains(&v) && !(low_open && v == *range.start());
    let from = if low_open { "more than" } else { "at least" };
    ok.then_some(v).ok_or_else(|| {
        ApiError::invalid(field, format!("must be {from} {} and at most {}", range.start(), range.end()))
    })
}

/// `GET /api/v1/forecast-settings`: the tenant's (the defaults until changed).
#[utoipa::path(get, path = "/forecast-settings", tag = "forecasts", security(("bearer" = [])),
    responses((status = 200, description = "The settings", body = ForecastSettingsView)))]
pub async fn get_forecast_settings(
    axum::extract::State(app): AppState,
    user: AuthUser,
) -> std::result::Result<Json<ForecastSettingsView>, ApiError> {
    Ok(Json(app.store.forecast_settings(user.tenant_id).await?.into()))
}

/// `PUT /api/v1/forecast-settings`: replaces them (owner or admin); from each connection's next
/// sync.
#[utoipa::path(put, path = "/forecast-settings", tag = "forecasts", security(("bearer" = [])),
    request_body = ForecastSettingsView,
    responses((status = 200, description = "The settings as stored", body = ForecastSettingsView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn put_forecast_settings(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<ForecastSettingsView>,
) -> std::result::Result<Json<ForecastSettingsView>, ApiError> {
    user.require_manager()?;
    let hour = |field: &str, h: Option<u8>| match h {
        Some(h) if h > 23 => Err(ApiError::invalid(field, "must be an hour, 0 to 23")),
        h => Ok(h.map(i64::from)),
    };
    let (quiet_from, quiet_to) = (hour("quiet_from", body.quiet_from)?, hour("quiet_to", body.quiet_to)?);
    if quiet_from.is_some() != quiet_to.is_some() {
        return Err(ApiError::invalid("quiet_to", "quiet_from and quiet_to are both set or both null"));
    }
    let settings = ForecastSettings {
        lead_time_days: check("lead_time_days", body.lead_time_days, 0.0..=365.0, true)?,
        warning_buffer_days: check("warning_buffer_days", body.warning_buffer_days, 0.0..=365.0, false)?,
        target_cover_days: check("target_cover_days", body.target_cover_days, 1.0..=365.0, false)?,
        service_z: check("service_z", body.service_z, 0.0..=5.0, false)?,
        quiet_from,
        quiet_to,
        urgent_bypass_quiet: body.urgent_bypass_quiet,
        digest_hour: hour("digest_hour", Some(body.digest_hour))?.unwrap_or(9),
        last_digest_on: None,
    };
    app.store.set_forecast_settings(user.tenant_id, &settings).await?;
    Ok(Json(app.store.forecast_settings(user.tenant_id).await?.into()))
}

/// `GET /forecast-overrides` query: one level.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct OverrideQuery {
    pub product_id: Uuid,
    /// Exact warehouse name.
    pub warehouse: String,
}

/// One level's own planning values; null: the tenant's (or none).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ForecastOverride {
    pub product_id: Uuid,
    pub warehouse: String,
    /// More than 0, at most 365.
    #[schema(exclusive_minimum = 0, maximum = 365)]
    pub lead_time_days: Option<f64>,
    /// Shipments are whole packs of this many units, 1 to 100,000.
    #[schema(minimum = 1, maximum = 100000)]
    pub pack_size: Option<i64>,
    /// A shipment is at least this many units, 0 to 10,000,000.
    #[schema(minimum = 0, maximum = 10000000)]
    pub moq: Option<i64>,
    /// Units already shipped to the warehouse and not yet there, 0 to 10,000,000 (counted as on
    /// their way until changed).
    #[schema(minimum = 0, maximum = 10000000)]
    pub in_transit: Option<i64>,
    /// No alerts pushed for this level until then.
    pub muted_until: Option<DateTime<Utc>>,
}

impl From<Override> for ForecastOverride {
    fn from(o: Override) -> Self {
        Self {
            product_id: o.product_id,
            warehouse: o.warehouse,
            lead_time_days: o.lead_time_days,
            pack_size: o.pack_size,
            moq: o.moq,
            in_transit: o.in_transit,
            muted_until: o.muted_until,
        }
    }
}

/// `GET /api/v1/forecast-overrides`: one level's overrides (all null when it has none).
#[utoipa::path(get, path = "/forecast-overrides", tag = "forecasts", security(("bearer" = [])), params(OverrideQuery),
    responses((status = 200, description = "The overrides", body = ForecastOverride),
              (status = 404, description = "No such level", body = ErrorBody)))]
pub async fn get_forecast_override(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<OverrideQuery>,
) -> std::result::Result<Json<ForecastOverride>, ApiError> {
    if !app.store.level_exists(user.tenant_id, q.product_id, &q.warehouse).await? {
        return Err(ApiError::NotFound);
    }
    Ok(Json(app.store.override_of(user.tenant_id, q.product_id, &q.warehouse).await?.into()))
}

/// `PUT /api/v1/forecast-overrides`: replaces one level's overrides (owner or admin); from the
/// connection's next sync.
#[utoipa::path(put, path = "/forecast-overrides", tag = "forecasts", security(("bearer" = [])),
    request_body = ForecastOverride,
    responses((status = 200, description = "The overrides as stored", body = ForecastOverride),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody),
              (status = 404, description = "No such level", body = ErrorBody)))]
pub async fn put_forecast_override(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Json(body): Json<ForecastOverride>,
) -> std::result::Result<Json<ForecastOverride>, ApiError> {
    user.require_manager()?;
    let int = |field: &str, v: Option<i64>, range: std::ops::RangeInclusive<i64>| match v {
        Some(n) if !range.contains(&n) => {
            Err(ApiError::invalid(field, format!("must be between {} and {}", range.start(), range.end())))
        }
        v => Ok(v),
    };
    let o = Override {
        product_id: body.product_id,
        warehouse: body.warehouse.clone(),
        lead_time_days: body.lead_time_days.map(|l| check("lead_time_days", l, 0.0..=365.0, true)).transpose()?,
        pack_size: int("pack_size", body.pack_size, 1..=100_000)?,
        moq: int("moq", body.moq, 0..=10_000_000)?,
        in_transit: int("in_transit", body.in_transit, 0..=10_000_000)?,
        muted_until: body.muted_until,
    };
    if !app.store.level_exists(user.tenant_id, o.product_id, &o.warehouse).await? {
        return Err(ApiError::NotFound);
    }
    app.store.set_override(user.tenant_id, &o).await?;
    Ok(Json(app.store.override_of(user.tenant_id, o.product_id, &o.warehouse).await?.into()))
}
