//! `/api/v1/stocks`: stock levels across the catalogue, per product and warehouse.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::Query;
use super::connections::check_marketplace;
use super::pagination::{Page, decode_cursor, limit};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::cache::Cached;
use crate::error::ApiError;
use crate::store::stocks::{StockFilter, StockRow, WarehouseKind};

/// `GET /stocks` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListStocksQuery {
    /// Only this warehouse (exact name).
    pub warehouse: Option<String>,
    /// Only the marketplace's warehouses, or only the seller's own.
    pub warehouse_kind: Option<WarehouseKind>,
    /// Only this connection's products.
    pub connection_id: Option<Uuid>,
    /// Only this marketplace's connections (`wildberries`, `ozon`, `yandex_market`, …).
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub marketplace: Option<String>,
    /// Only levels at or below the product's low-stock threshold.
    #[serde(default)]
    pub low: bool,
    /// Only levels with nothing available.
    #[serde(default)]
    pub out: bool,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A product's stock in one warehouse, with the product fields a stock list needs.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockView {
    pub product_id: Uuid,
    pub connection_id: Uuid,
    /// The connection's marketplace (`wildberries`, `ozon`, `yandex_market`, …).
    pub marketplace: String,
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    /// Whose warehouse: the marketplace's or the seller's own.
    pub warehouse_kind: WarehouseKind,
    pub available: i64,
    pub low_stock_threshold: i64,
    pub updated_at: DateTime<Utc>,
}

impl From<StockRow> for StockView {
    fn from(s: StockRow) -> Self {
        StockView {
            product_id: s.product_id,
            connection_id: s.connection_id,
            marketplace: s.marketplace,
            sku: s.sku,
            name: s.name,
            warehouse_kind: WarehouseKind::parse(&s.warehouse_kind),
            warehouse: s.warehouse,
            available: s.available,
            low_stock_threshold: s.low_stock_threshold,
            updated_at: s.updated_at,
        }
    }
}

/// `GET /api/v1/stocks`: levels of active products, ordered by product id, then warehouse.
#[utoipa::path(get, path = "/stocks", tag = "stocks", security(("bearer" = [])), params(ListStocksQuery),
    responses((status = 200, description = "Levels of active products by product id, then warehouse", body = Page<StockView>)))]
pub async fn list_stocks(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListStocksQuery>,
) -> Result<Cached, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<(Uuid, String)>(q.cursor.as_deref())?;
    if let Some(m) = &q.marketplace {
        check_marketplace(m)?;
    }
    let key =
        (&q.warehouse, q.warehouse_kind.map(WarehouseKind::as_str), q.connection_id, &q.marketplace, q.low, q.out);
    let key = (key, limit, &after);
    app.cache
        .get_or_load(user.tenant_id, "stocks", &key, || async {
            let filter = StockFilter {
                warehouse: q.warehouse.clone(),
                warehouse_kind: q.warehouse_kind,
                connection_id: q.connection_id,
                marketplace: q.marketplace.clone(),
                low: q.low,
                out: q.out,
            };
            let rows = app.store.list_stocks(user.tenant_id, &filter, after.clone(), limit + 1).await?;
            Ok::<_, ApiError>(
                Page::from_rows(rows, limit, |s| (s.product_id, s.warehouse.clone())).map(StockView::from),
            )
        })
        .await
}
