//! `/api/v1/products`: the synced catalogue.

use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, PathId, Query};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::error::ApiError;
use crate::store::products::{Product, ProductFilter};

/// How many recent stock changes a product's detail shows.
pub const RECENT_HISTORY: u32 = 50;

/// `GET /products` query.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListProductsQuery {
    pub connection_id: Option<Uuid>,
    /// Case-insensitive substring of sku, name or barcode.
    pub search: Option<String>,
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// `GET /api/v1/products`: ordered by sku, then id.
pub async fn list_products(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListProductsQuery>,
) -> Result<Json<Page<Product>>, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<(String, Uuid)>(q.cursor.as_deref())?;
    let search = q.search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid("search", "must be at most 200 characters"));
    }
    let filter = ProductFilter { connection_id: q.connection_id, search };
    let rows = app.store.list_products(user.tenant_id, &filter, after, limit + 1).await?;
    Ok(Json(Page::from_rows(rows, limit, |p| (p.sku.clone(), p.product_id))))
}

/// `GET /api/v1/products/{id}`: the product, its stock per warehouse and its recent history.
pub async fn get_product(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<Value>, ApiError> {
    let product = app.store.product(user.tenant_id, id).await?;
    let (stocks, history) = tokio::try_join!(
        app.store.stock_levels_of_product(user.tenant_id, id),
        app.store.stock_history_of_product(user.tenant_id, id, RECENT_HISTORY),
    )?;
    let mut body = serde_json::to_value(&product).map_err(anyhow::Error::from)?;
    body["stocks"] = json!(stocks);
    body["history"] = json!(history);
    Ok(Json(body))
}
