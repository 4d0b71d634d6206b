//! `/api/v1/products`: the synced catalogue.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::pagination::{Page, decode_cursor, limit};
use super::{Json, PathId, Query, nullable};
use crate::app::AppState;
use crate::auth::AuthUser;
use crate::cache::Cached;
use crate::error::{ApiError, ErrorBody};
use crate::store::products::{Product, ProductFilter};
use crate::store::stocks::{StockChange, StockLevel, WarehouseKind};

/// How many recent stock changes a product's detail shows.
pub const RECENT_HISTORY: u32 = 50;

/// `GET /products` query.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListProductsQuery {
    /// Only this connection's products.
    pub connection_id: Option<Uuid>,
    /// Case-insensitive substring of sku, name or barcode (`%` and `_` are literal), at most 200
    /// characters.
    pub search: Option<String>,
    /// 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A product as served.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductView {
    pub product_id: Uuid,
    pub connection_id: Uuid,
    /// The seller's article for this variant, unique within the connection.
    pub sku: String,
    /// The marketplace's own id.
    pub marketplace_id: String,
    pub barcode: Option<String>,
    pub name: String,
    pub brand: Option<String>,
    /// The current price, if the marketplace reports one.
    pub price: Option<PriceView>,
    /// Goods on the way to buyers and back from them (marketplaces count them per product, not
    /// per warehouse).
    pub in_transit: InTransitView,
    /// The product's own low-stock threshold; null: the tenant's applies.
    pub low_stock_threshold: Option<i64>,
    /// The threshold that applies: at or below it, a level counts as low.
    pub effective_low_stock_threshold: i64,
    /// False once the marketplace stopped listing it (kept, with its history).
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        ProductView {
            product_id: p.product_id,
            connection_id: p.connection_id,
            sku: p.sku,
            marketplace_id: p.marketplace_id,
            barcode: p.barcode,
            name: p.name,
            brand: p.brand,
            price: p.price_minor.map(|base_minor| PriceView {
                base_minor,
                discounted_minor: p.discounted_price_minor,
                discount_percent: p.discount_percent,
                currency: p.currency.clone().unwrap_or_else(|| "RUB".into()),
            }),
            in_transit: InTransitView { to_client: p.in_transit_to_client, from_client: p.in_transit_from_client },
            low_stock_threshold: p.low_stock_threshold,
            effective_low_stock_threshold: p.effective_low_stock_threshold,
            active: p.active,
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A price in minor units (kopecks for RUB).
#[derive(Debug, Serialize, ToSchema)]
pub struct PriceView {
    /// Before the seller's discount.
    pub base_minor: i64,
    /// After it, if there is one.
    pub discounted_minor: Option<i64>,
    /// The seller's discount, percent.
    pub discount_percent: Option<i64>,
    /// ISO 4217.
    pub currency: String,
}

/// Units between warehouses and buyers.
#[derive(Debug, Serialize, ToSchema)]
pub struct InTransitView {
    pub to_client: i64,
    pub from_client: i64,
}

/// A product with its stock per warehouse and its recent history.
#[derive(Debug, Serialize, ToSchema)]
pub struct ProductDetail {
    #[serde(flatten)]
    pub product: ProductView,
    pub stocks: Vec<StockLevelView>,
    /// The most recent changes, newest first (at most 50).
    pub history: Vec<StockChangeView>,
}

/// One warehouse's stock of a product.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockLevelView {
    pub warehouse: String,
    /// Whose warehouse: the marketplace's or the seller's own.
    pub warehouse_kind: WarehouseKind,
    /// The marketplace's id of the warehouse, if it has one.
    pub warehouse_id: Option<String>,
    pub available: i64,
    pub updated_at: DateTime<Utc>,
}

impl From<StockLevel> for StockLevelView {
    fn from(s: StockLevel) -> Self {
        StockLevelView {
            warehouse_kind: WarehouseKind::parse(&s.warehouse_kind),
            warehouse: s.warehouse,
            warehouse_id: s.warehouse_id,
            available: s.available,
            updated_at: s.updated_at,
        }
    }
}

/// A change of the available quantity in one warehouse.
#[derive(Debug, Serialize, ToSchema)]
pub struct StockChangeView {
    pub warehouse: String,
    /// Null for the first level ever seen.
    pub previous_available: Option<i64>,
    pub available: i64,
    /// The run that saw it.
    pub sync_run_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

impl From<StockChange> for StockChangeView {
    fn from(c: StockChange) -> Self {
        StockChangeView {
            warehouse: c.warehouse,
            previous_available: c.previous_available,
            available: c.available,
            sync_run_id: c.sync_run_id,
            recorded_at: c.recorded_at,
        }
    }
}

/// `GET /api/v1/products`: ordered by sku, then id.
#[utoipa::path(get, path = "/products", tag = "products", security(("bearer" = [])), params(ListProductsQuery),
    responses((status = 200, description = "Products by sku, then id", body = Page<ProductView>)))]
pub async fn list_products(
    axum::extract::State(app): AppState,
    user: AuthUser,
    Query(q): Query<ListProductsQuery>,
) -> Result<Cached, ApiError> {
    let limit = limit(q.limit)?;
    let after = decode_cursor::<(String, Uuid)>(q.cursor.as_deref())?;
    let search = q.search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
    if search.as_ref().is_some_and(|s| s.chars().count() > 200) {
        return Err(ApiError::invalid("search", "must be at most 200 characters"));
    }
    let key = (q.connection_id, &search, limit, &after);
    app.cache
        .get_or_load(user.tenant_id, "products", &key, || async {
            let filter = ProductFilter { connection_id: q.connection_id, search: search.clone() };
            let rows = app.store.list_products(user.tenant_id, &filter, after.clone(), limit + 1).await?;
            Ok::<_, ApiError>(Page::from_rows(rows, limit, |p| (p.sku.clone(), p.product_id)).map(ProductView::from))
        })
        .await
}

/// `GET /api/v1/products/{id}`: the product, its stock per warehouse and its recent history.
#[utoipa::path(get, path = "/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product id")),
    responses((status = 200, description = "The product with its stock and recent history", body = ProductDetail)))]
pub async fn get_product(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
) -> Result<Json<ProductDetail>, ApiError> {
    let product = app.store.product(user.tenant_id, id).await?;
    let (stocks, history) = tokio::try_join!(
        app.store.stock_levels_of_product(user.tenant_id, id),
        app.store.stock_history_of_product(user.tenant_id, id, RECENT_HISTORY),
    )?;
    Ok(Json(ProductDetail {
        product: product.into(),
        stocks: stocks.into_iter().map(Into::into).collect(),
        history: history.into_iter().map(Into::into).collect(),
    }))
}

/// Largest threshold accepted.
pub const MAX_THRESHOLD: i64 = 1_000_000;

/// `PATCH /products/{id}` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateProductRequest {
    /// 0 to 1,000,000; null: the tenant's threshold applies. Takes effect for stock events at
    /// the connection's next sync.
    #[serde(default, deserialize_with = "nullable")]
    #[schema(value_type = Option<i64>, required = true, minimum = 0, maximum = 1000000)]
    pub low_stock_threshold: Option<Option<i64>>,
}

/// Checks a threshold given for `field`.
pub fn check_threshold(field: &str, value: i64) -> Result<i64, ApiError> {
    if (0..=MAX_THRESHOLD).contains(&value) {
        Ok(value)
    } else {
        Err(ApiError::invalid(field, format!("must be between 0 and {MAX_THRESHOLD}")))
    }
}

/// `PATCH /api/v1/products/{id}`: the product's own low-stock threshold (owner or admin).
#[utoipa::path(patch, path = "/products/{id}", tag = "products", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The product id")), request_body = UpdateProductRequest,
    responses((status = 200, description = "The product as changed", body = ProductView),
              (status = 403, description = "Needs the owner or admin role", body = ErrorBody)))]
pub async fn update_product(
    axum::extract::State(app): AppState,
    user: AuthUser,
    PathId(id): PathId,
    Json(body): Json<UpdateProductRequest>,
) -> Result<Json<ProductView>, ApiError> {
    user.require_manager()?;
    let Some(threshold) = body.low_stock_threshold else {
        return Err(ApiError::invalid("low_stock_threshold", "required (a number, or null for the tenant's)"));
    };
    let threshold = threshold.map(|t| check_threshold("low_stock_threshold", t)).transpose()?;
    let product = app.store.set_product_threshold(user.tenant_id, id, threshold).await?;
    crate::cache::invalidation::invalidate(&app, user.tenant_id).await;
    Ok(Json(product.into()))
}
