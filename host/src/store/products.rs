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
    /// The base price, minor units.
    pub price_minor: Option<i64>,
    pub discounted_price_minor: Option<i64>,
    pub discount_percent: Option<i64>,
    pub currency: Option<String>,
    /// Goods on the way to buyers and back from them (the marketplace counts them per product).
    pub in_transit_to_client: i64,
    pub in_transit_from_client: i64,
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
    /// The marketplace's variant id (WB `chrtID`).
    pub variant_id: Option<String>,
    /// When the listing carries a price; `None` keeps the stored one (prices have their phase).
    pub price: Option<NewPrice>,
}

impl NewProduct {
    /// A product with only its SKU, marketplace id and name (imports, seeding).
    pub fn named(sku: impl Into<String>, marketplace_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            sku: sku.into(),
            marketplace_id: marketplace_id.into(),
            barcode: None,
            name: name.into(),
            brand: None,
            variant_id: None,
            price: None,
        }
    }
}

/// A price as the marketplace reports it, minor units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPrice {
    pub base_minor: i64,
    pub discounted_minor: Option<i64>,
    pub discount_percent: Option<i64>,
    pub currency: String,
}

impl NewPrice {
    /// A price in kopecks with no discount.
    pub fn rub(base_minor: i64) -> Self {
        Self { base_minor, discounted_minor: None, discount_percent: None, currency: "RUB".into() }
    }
}

/// Filters for [`Store::list_products`].
#[derive(Debug, Default, Clone)]
pub struct ProductFilter {
    pub connection_id: Option<Uuid>,
    /// Case-insensitive substring of sku, name or barcode.
    pub search: Option<String>,
}

const COLUMNS: &str = "product_id, connection_id, sku, marketplace_id, barcode, name, brand, price_minor, \
                       discounted_price_minor, discount_percent, currency, in_transit_to_client, \
                       in_transit_from_client, \
                       low_stock_threshold, COALESCE(low_stock_threshold, \
                         (SELECT t.low_stock_threshold FROM tenant t WHERE t.tenant_id = product.tenant_id)) \
                         AS effective_low_stock_threshold, \
                       active, created_at, updated_at";

/// Rows per upsert statement: 16 binds a row stays well under both backends' bind limits
/// (SQLite 32,766, PostgreSQL 65,535).
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
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
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
                     brand, variant_id, price_minor, discounted_price_minor, discount_percent, currency, search_text, \
                     created_at, updated_at) ",
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
                        .push_bind(p.variant_id.clone())
                        .push_bind(p.price.as_ref().map(|p| p.base_minor))
                        .push_bind(p.price.as_ref().and_then(|p| p.discounted_minor))
                        .push_bind(p.price.as_ref().and_then(|p| p.discount_percent))
                        .push_bind(p.price.as_ref().map(|p| p.currency.clone()))
                        .push_bind(search_text(p))
                        .push_bind(at)
                        .push_bind(at);
                });
                q.push(
                    " ON CONFLICT (tenant_id, connection_id, sku) DO UPDATE SET marketplace_id = excluded.marketplace_id, \
                     barcode = excluded.barcode, name = excluded.name, brand = excluded.brand, \
                     variant_id = excluded.variant_id, search_text = excluded.search_text, active = TRUE, \
                     price_minor = COALESCE(excluded.price_minor, product.price_minor), \
                     discounted_price_minor = CASE WHEN excluded.price_minor IS NULL \
                       THEN product.discounted_price_minor ELSE excluded.discounted_price_minor END, \
                     discount_percent = CASE WHEN excluded.price_minor IS NULL \
                       THEN product.discount_percent ELSE excluded.discount_percent END, \
                     currency = COALESCE(excluded.currency, product.currency), \
                     updated_at = excluded.updated_at RETURNING sku, product_id",
                );
                let rows: Vec<(String, Uuid)> = q.build_query_as().fetch_all(&mut *tx).await?;
                ids.extend(rows);
            }
            tx.commit().await?;
        });
        self.written();
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

    /// Sets the prices of a connection's products by SKU (SKUs it does not have are skipped).
    /// Returns how many products were updated.
    pub async fn set_prices(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        prices: &[(String, NewPrice)],
    ) -> Result<u64, StoreError> {
        let set = "price_minor = v.column2, discounted_price_minor = v.column3, discount_percent = v.column4, \
                   currency = v.column5";
        let rows: Vec<Vec<Val>> = prices
            .iter()
            .map(|(sku, p)| {
                vec![
                    Val::Text(sku.clone()),
                    Val::Int(Some(p.base_minor)),
                    Val::Int(p.discounted_minor),
                    Val::Int(p.discount_percent),
                    Val::Text(p.currency.clone()),
                ]
            })
            .collect();
        self.update_by_sku(tenant_id, connection_id, set, &rows).await
    }

    /// Sets in-transit counts of a connection's products by SKU: `(sku, to client, from client)`.
    pub async fn set_in_transit(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        transit: &[(String, i64, i64)],
    ) -> Result<u64, StoreError> {
        let set = "in_transit_to_client = v.column2, in_transit_from_client = v.column3";
        let rows: Vec<Vec<Val>> = transit
            .iter()
            .map(|(sku, to, from)| vec![Val::Text(sku.clone()), Val::Int(Some(*to)), Val::Int(Some(*from))])
            .collect();
        self.update_by_sku(tenant_id, connection_id, set, &rows).await
    }

    /// (SKU, variant id) of a connection's active products that have one, in a stable order.
    pub async fn variant_ids(&self, tenant_id: Uuid, connection_id: Uuid) -> Result<Vec<(String, String)>, StoreError> {
        let sql = "SELECT sku, variant_id FROM product WHERE tenant_id = $1 AND connection_id = $2 AND active \
                   AND variant_id IS NOT NULL ORDER BY sku";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_all(p).await?))
    }

    /// SKUs of a connection's products with goods in transit.
    pub async fn skus_in_transit(&self, tenant_id: Uuid, connection_id: Uuid) -> Result<Vec<String>, StoreError> {
        let sql = "SELECT sku FROM product WHERE tenant_id = $1 AND connection_id = $2 \
                   AND (in_transit_to_client <> 0 OR in_transit_from_client <> 0)";
        let rows: Vec<(String,)> =
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(connection_id).fetch_all(p).await?);
        Ok(rows.into_iter().map(|(sku,)| sku).collect())
    }

    /// `UPDATE product SET <set> FROM (VALUES …) v WHERE sku = v.column1` in chunks, in one
    /// transaction. (`VALUES` names its columns `column1…` on both backends.)
    async fn update_by_sku(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        set: &str,
        rows: &[Vec<Val>],
    ) -> Result<u64, StoreError> {
        let at = now();
        let mut updated = 0;
        on_pool!(self.pool(), pool => {
            let mut tx = pool.begin_write().await?;
            for chunk in rows.chunks(UPSERT_CHUNK) {
                let mut q = QueryBuilder::new(format!("UPDATE product SET {set}, updated_at = "));
                q.push_bind(at).push(" FROM (");
                q.push_values(chunk, |mut row, values| {
                    for value in values {
                        match value {
                            Val::Text(text) => row.push_bind(text.clone()),
                            Val::Int(int) => row.push_bind(*int),
                        };
                    }
                });
                q.push(") AS v WHERE product.tenant_id = ").push_bind(tenant_id);
                q.push(" AND product.connection_id = ").push_bind(connection_id);
                q.push(" AND product.sku = v.column1");
                updated += q.build().execute(&mut *tx).await?.rows_affected();
            }
            tx.commit().await?;
        });
        Ok(updated)
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

/// One bound value of [`Store::update_by_sku`]'s rows (the same code binds on both backends).
enum Val {
    Text(String),
    Int(Option<i64>),
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
