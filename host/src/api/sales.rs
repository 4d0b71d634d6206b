//! `/api/v1/sales`: daily totals of orders, sales, returns and cancellations per product and
//! warehouse, by day of the tenant's time zone.

use chrono::{NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, encode_cursor, limit};
use super::{Json, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::store::sales::{DailySales, SalesFilter, offset_segments};

/// Longest range one request may ask for, days.
pub const MAX_DAYS: i64 = 366;
/// The range when `from` is not given: this many days up to `to`.
pub const DEFAULT_DAYS: i64 = 28;

/// `GET /sales` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListSalesQuery {
    /// Only this product.
    pub product_id: Option<Uuid>,
    /// Only this warehouse (as the marketplace names it).
    pub warehouse: Option<String>,
    /// First day (the tenant's time zone), `YYYY-MM-DD`; default 27 days before `to`.
    pub from: Option<NaiveDate>,
    /// Last day, inclusive; default today. At most 366 days after `from`.
    pub to: Option<NaiveDate>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One product's totals in one warehouse on one day (units; days without events are absent).
#[derive(Debug, Serialize, ToSchema)]
pub struct DailySalesView {
    pub date: NaiveDate,
    pub product_id: Uuid,
    pub sku: String,
    /// Null when the marketplace named no warehouse.
    pub warehouse: Option<String>,
    pub orders: i64,
    pub sales: i64,
    pub returns: i64,
    pub cancels: i64,
}

impl From<DailySales> for DailySalesView {
    fn from(d: DailySales) -> Self {
        DailySalesView {
            date: d.date(),
            product_id: d.product_id,
            sku: d.sku,
            warehouse: Some(d.warehouse).filter(|w| !w.is_empty()),
            orders: d.orders,
            sales: d.sales,
            returns: d.returns,
            cancels: d.cancels,
        }
    }
}

/// `GET /api/v1/sales`: daily totals, ordered by date, product, warehouse.
#[utoipa::path(get, path = "/sales", tag = "sales", security(("bearer" = [])), params(ListSalesQuery),
    responses((status = 200, description = "Daily totals by date, product, warehouse", body = Page<DailySalesView>)))]
pub async fn list_sales(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListSalesQuery>,
) -> Result<Json<Page<DailySalesView>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<(i64, Uuid, String)>(q.cursor.as_deref())?;
    let tenant = app.store.tenant(user.tenant_id).await?;
    let tz: chrono_tz::Tz = tenant.timezone.parse().unwrap_or(chrono_tz::Europe::Moscow);
    let to = q.to.unwrap_or_else(|| Utc::now().with_timezone(&tz).date_naive());
    let from = q.from.unwrap_or(to - chrono::Duration::days(DEFAULT_DAYS - 1));
    if from > to {
        return Err(ApiError::invalid("from", "must not be after `to`"));
    }
    if (to - from).num_days() >= MAX_DAYS {
        return Err(ApiError::invalid("to", format!("at most {MAX_DAYS} days after `from`")));
    }
    let filter = SalesFilter { product_id: q.product_id, warehouse: q.warehouse };
    // Segments in date order; the page continues in the segment holding the cursor's day.
    let mut rows = Vec::new();
    for segment in offset_segments(&tz, from, to) {
        let segment_last_day = (segment.end_unix - 1 + segment.offset_secs).div_euclid(86_400);
        if after.as_ref().is_some_and(|(day, ..)| *day > segment_last_day) {
            continue;
        }
        let want = limit + 1 - rows.len() as u32;
        rows.extend(app.store.daily_sales(user.tenant_id, &filter, segment, after.as_ref(), want).await?);
        if rows.len() > limit as usize {
            break;
        }
    }
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor =
        if more { rows.last().map(|r| encode_cursor(&(r.day, r.product_id, r.warehouse.clone()))) } else { None };
    Ok(Json(Page { items: rows.into_iter().map(Into::into).collect(), next_cursor }))
}
