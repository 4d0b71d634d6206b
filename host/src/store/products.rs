//! Products: one row per marketplace SKU per connection, listed in a stable keyset order
//! (`sku`, then `product_id`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Store, StoreError, now, on_pool};

/// A product as stored and served.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Product {
    pub product_id: Uuid,
    pub connection_id: Uuid,
    pub sku: String,
    pub marketplace_id: String,
    pub barcode: Option<String>,
    pub name: String,
    pub brand: Option<String>,
    pub price_minor: Option<i64>,
    /// The product's own threshold; `None`: the tenant's.
    pub low_stock_threshold: Option<i64>,
    /// The threshold that applies: the product's own, else the tenant's.
    pub effective_low_stock_threshold: i64,
    pub active: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A product as a marketplace reports it, before it has an id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: String,
    pub marketplace_id: String,
    pub barcode: Option<String>,
    pub name: String,
    pub brand: Option<String>,
    pub price_minor: Option<i64>,
}

/// Filters for [`Store::list_products`].
#[derive(Debug, Default, Clone)]
pub struct ProductFilter {
    pub connection_id: Option<Uuid>,
    /// Case-insensitive substring of sku, name or barcode.
    pub search: Option<String>,
}

const COLUMNS: &str = "product_id, connection_id, sku, marketplace_id, barcode, name, brand, price_minor, \
                       low_stock_threshold, COALESCE(low_stock_threshold, \
                         (SELECT t.low_stock_threshold FROM tenant t WHERE t.tenant_id = product.tenant_id)) \
                         AS effective_low_stock_threshold, \
                       active, created_at, updated_at";

/// Rows per upsert statement: 11 binds a row stays well under both backends' bind limits.
const UPSERT_CHUNK: usize = 1000;

impl Store {
    /// Up to `limit` products after the keyset position `after` (`sku`, `product_id`).
    pub async fn list_products(
        &self,
        tenant_id: Uuid,
        filter: &ProductFilter,
        after: Option<(String, Uuid)>,
        limit: u32,
    ) -> Result<Vec<Product>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new(format!("SELECT {COLUMNS} FROM product WHERE tenant_id = "));
            q.push_bind(tenant_id);
            if let Some(connection_id) = filter.connection_id {
                q.push(" AND connection_id = ").push_bind(connection_id);
            }
            if let Some(search) = &filter.search {
                q.push(" AND search_text LIKE ").push_bind(like_pattern(search)).push(" ESCAPE '\\'");
            }
            if let Some((sku, id)) = after {
                q.push(" AND (sku, product_id) > (").push_bind(sku).push(", ").push_bind(id).push(")");
            }
            q.push(" ORDER BY sku, product_id LIMIT ").push_bind(i64::from(limit));
            q.build_query_as().fetch_all(p).await?
        }))
    }

    /// One product of the tenant.
    pub async fn product(&self, tenant_id: Uuid, product_id: Uuid) -> Result<Product, StoreError> {
        let sql =
            sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM product WHERE tenant_id = $1 AND product_id = $2"));
        let row =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(product_id).fetch_optional(p).await?);
        row.ok_or(StoreError::NotFound)
    }

    /// Sets a product's own low-stock threshold (`None`: the tenant's applies).
    pub async fn set_product_threshold(
        &self,
        tenant_id: Uuid,
        product_id: Uuid,
        threshold: Option<i64>,
    ) -> Result<Product, StoreError> {
        let sql =
            "UPDATE product SET low_stock_threshold = $3, updated_at = $4 WHERE tenant_id = $1 AND product_id = $2";
        let n = on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(product_id).bind(threshold).bind(now())
            .execute(p).await?.rows_affected());
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.product(tenant_id, product_id).await
    }

    /// Inserts or updates products of one connection by SKU, marking them active. Returns each
    /// SKU's product id.
    pub async fn upsert_products(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        products: &[NewProduct],
    ) -> Result<Vec<(String, Uuid)>, StoreError> {
        let at = now();
        let mut ids = Vec::with_capacity(products.len());
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in products.chunks(UPSERT_CHUNK) {
                let mut q = QueryBuilder::new(
                    "INSERT INTO product (tenant_id, product_id, connection_id, sku, marketplace_id, barcode, name, \
                     brand, price_minor, search_text, created_at, updated_at) ",
                );
                q.push_values(chunk, |mut row, p| {
                    row.push_bind(tenant_id)
                        .push_bind(Uuid::now_v7())
                        .push_bind(connection_id)
                        .push_bind(p.sku.clone())
                        .push_bind(p.marketplace_id.clone())
                        .push_bind(p.barcode.clone())
                        .push_bind(p.name.clone())
                        .push_bind(p.brand.clone())
                        .push_bind(p.price_minor)
                        .push_bind(search_text(p))
                        .push_bind(at)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (tenant_id, connection_id, sku) DO UPDATE SET marketplace_id = excluded.marketplace_id, \
                     barcode = excluded.barcode, name = excluded.name, brand = excluded.brand, \
                     price_minor = excluded.price_minor, search_text = excluded.search_text, active = TRUE, \
                     updated_at = excluded.updated_at RETURNING sku, product_id",
                );
                let rows: Vec<(String, Uuid)> = q.build_query_as().fetch_all(&mut *tx).await?;
                ids.extend(rows);
            }
            tx.commit().await?;
        });
        Ok(ids)
    }
}

impl Store {
    /// Every product id of a connection by SKU (to attach stock rows to products).
    pub async fn product_ids_by_sku(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
    ) -> Result<std::collections::HashMap<String, Uuid>, StoreError> {
        let sql = "SELECT sku, product_id FROM product WHERE tenant_id = $1 AND connection_id = $2";
        let rows: Vec<(String, Uuid)> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_all(p).await?);
        Ok(rows.into_iter().collect())
    }

    /// Marks inactive the products of a connection that no upsert touched since `since` (the
    /// marketplace stopped reporting them). They are kept, with their stock and history.
    pub async fn deactivate_products_not_seen_since(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<u64, StoreError> {
        let sql = "UPDATE product SET active = FALSE, updated_at = $4 \
                   WHERE tenant_id = $1 AND connection_id = $2 AND active AND updated_at < $3";
        Ok(on_pool!(self.pool(), p => sqlx::query(sql).bind(tenant_id).bind(connection_id).bind(since).bind(now())
            .execute(p).await?.rows_affected()))
    }
}

/// The lower-cased text that `search` matches against.
fn search_text(p: &NewProduct) -> String {
    let mut text = format!("{}\n{}", p.sku, p.name);
    if let Some(barcode) = &p.barcode {
        text.push('\n');
        text.push_str(barcode);
    }
    text.to_lowercase()
}

/// `%needle%` with LIKE's wildcards escaped, lower-cased like [`search_text`].
fn like_pattern(needle: &str) -> String {
    let mut pattern = String::with_capacity(needle.len() + 2);
    pattern.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_pattern_escapes_wildcards_and_folds_case() {
        assert_eq!(like_pattern("Футболка_50%"), "%футболка\\_50\\%%");
        assert_eq!(like_pattern("a\\b"), "%a\\\\b%");
    }
}
