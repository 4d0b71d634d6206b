//! `/api/v1/stocks`: stock levels across the catalogue, per product and warehouse.

use serde::Deserialize;
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::store::stocks::{StockFilter, StockRow};

/// `GET /stocks` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListStocksQuery {
    pub warehouse: Option<String>,
    pub connection_id: Option<Uuid>,
    /// Only levels at or below the product's low-stock threshold.
    #[serde(default)]
    pub low: bool,
    /// Only levels with nothing available.
    #[serde(default)]
    pub out: bool,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/stocks`: levels of active products, ordered by product id, then warehouse.
pub async fn list_stocks(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListStocksQuery>,
) -> Result<Json<Page<StockRow>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<(Uuid, String)>(q.cursor.as_deref())?;
    let filter = StockFilter { warehouse: q.warehouse, connection_id: q.connection_id, low: q.low, out: q.out };
    let rows = app.store.list_stocks(user.tenant_id, &filter, after, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |s| (s.product_id, s.warehouse.clone()))))
}
