//! Stock levels (one row per product and warehouse) and their append-only history.

use std::collections::HashMap;
use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Pool, Store, StoreError, now, on_pool};

/// A stock level with the product fields a stock list needs.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StockRow {
    pub product_id: Uuid,
    pub connection_id: Uuid,
    /// The connection's marketplace.
    pub marketplace: String,
    pub sku: String,
    pub name: String,
    pub warehouse: String,
    /// `marketplace` or `seller`.
    pub warehouse_kind: String,
    pub available: i64,
    pub low_stock_threshold: i64,
    pub updated_at: DateTime<Utc>,
}

/// One product's stock in one warehouse.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StockLevel {
    pub warehouse: String,
    pub warehouse_kind: String,
    pub warehouse_id: Option<String>,
    pub available: i64,
    pub updated_at: DateTime<Utc>,
}

/// A change of one product's available quantity in one warehouse.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct StockChange {
    pub warehouse: String,
    pub previous_available: Option<i64>,
    pub available: i64,
    pub sync_run_id: Option<Uuid>,
    pub recorded_at: DateTime<Utc>,
}

/// A quantity observed at a marketplace, for [`Store::record_stock_levels`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedStock {
    pub product_id: Uuid,
    pub warehouse: String,
    pub kind: WarehouseKind,
    pub warehouse_id: Option<String>,
    pub available: i64,
}

impl ObservedStock {
    /// A level in one of the marketplace's warehouses.
    pub fn marketplace(product_id: Uuid, warehouse: &str, available: i64) -> Self {
        Self {
            product_id,
            warehouse: warehouse.to_owned(),
            kind: WarehouseKind::Marketplace,
            warehouse_id: None,
            available,
        }
    }
}

/// Whose warehouse holds the stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WarehouseKind {
    /// The marketplace's (WB FBW, Ozon FBO).
    Marketplace,
    /// The seller's own (WB FBS/DBS, Ozon FBS).
    Seller,
}

impl WarehouseKind {
    /// The stored text (anything but `seller` reads as the marketplace's).
    pub fn parse(text: &str) -> Self {
        if text == "seller" { Self::Seller } else { Self::Marketplace }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Marketplace => "marketplace",
            Self::Seller => "seller",
        }
    }
}

/// Filters for [`Store::list_stocks`].
#[derive(Debug, Default, Clone)]
pub struct StockFilter {
    pub warehouse: Option<String>,
    pub warehouse_kind: Option<WarehouseKind>,
    pub connection_id: Option<Uuid>,
    /// Only this marketplace's connections.
    pub marketplace: Option<String>,
    /// At or below the product's low-stock threshold.
    pub low: bool,
    /// Nothing available.
    pub out: bool,
}

/// Rows per SQLite write statement: 5 binds a row (SQLite allows 32,766 a statement).
const WRITE_CHUNK: usize = 1000;

impl Store {
    /// Up to `limit` stock rows of active products after the keyset position `after`
    /// (`product_id`, `warehouse`).
    pub async fn list_stocks(
        &self,
        tenant_id: Uuid,
        filter: &StockFilter,
        after: Option<(Uuid, String)>,
        limit: u32,
    ) -> Result<Vec<StockRow>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new(
                "SELECT s.product_id, p.connection_id, c.marketplace, p.sku, p.name, s.warehouse, s.warehouse_kind, \
                 s.available, COALESCE(p.low_stock_threshold, t.low_stock_threshold) AS low_stock_threshold, \
                 s.updated_at \
                 FROM stock_level s JOIN product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
                 JOIN marketplace_connection c ON c.tenant_id = p.tenant_id AND c.connection_id = p.connection_id \
                 JOIN tenant t ON t.tenant_id = s.tenant_id \
                 WHERE p.active AND s.tenant_id = ",
            );
            q.push_bind(tenant_id);
            if let Some(warehouse) = &filter.warehouse {
                q.push(" AND s.warehouse = ").push_bind(warehouse.clone());
            }
            if let Some(kind) = filter.warehouse_kind {
                q.push(" AND s.warehouse_kind = ").push_bind(kind.as_str());
            }
            if let Some(connection_id) = filter.connection_id {
                q.push(" AND p.connection_id = ").push_bind(connection_id);
            }
            if let Some(marketplace) = &filter.marketplace {
                q.push(" AND c.marketplace = ").push_bind(marketplace.clone());
            }
            if filter.low {
                q.push(" AND s.available <= COALESCE(p.low_stock_threshold, t.low_stock_threshold)");
            }
            if filter.out {
                q.push(" AND s.available <= 0");
            }
            if let Some((product_id, warehouse)) = after {
                q.push(" AND (s.product_id, s.warehouse) > (").push_bind(product_id).push(", ").push_bind(warehouse).push(")");
            }
            q.push(" ORDER BY s.product_id, s.warehouse LIMIT ").push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        }))
    }

    /// Active products, their levels, and how many levels are low (at or below the threshold,
    /// above zero) and out (zero).
    pub async fn stock_summary(&self, tenant_id: Uuid) -> Result<(i64, i64, i64, i64), StoreError> {
        let sql = "SELECT \
                     (SELECT COUNT(*) FROM product WHERE tenant_id = $1 AND active), \
                     COUNT(*), \
                     COALESCE(SUM(CASE WHEN s.available > 0 \
                       AND s.available <= COALESCE(p.low_stock_threshold, t.low_stock_threshold) THEN 1 ELSE 0 END), 0), \
                     COALESCE(SUM(CASE WHEN s.available <= 0 THEN 1 ELSE 0 END), 0) \
                   FROM stock_level s JOIN product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
                   JOIN tenant t ON t.tenant_id = s.tenant_id WHERE s.tenant_id = $1 AND p.active";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).fetch_one(p).await?))
    }

    /// A product's stock per warehouse, by warehouse name.
    pub async fn stock_levels_of_product(
        &self,
        tenant_id: Uuid,
        product_id: Uuid,
    ) -> Result<Vec<StockLevel>, StoreError> {
        let sql = "SELECT warehouse, warehouse_kind, warehouse_id, available, updated_at \
                   FROM stock_level WHERE tenant_id = $1 AND product_id = $2 ORDER BY warehouse";
        Ok(on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(product_id).fetch_all(p).await?))
    }

    /// The levels of a connection's products with a non-zero quantity that no write touched
    /// since `since` (a listing that started then no longer reports them), with their kind.
    pub async fn stock_levels_not_seen_since(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        since: DateTime<Utc>,
    ) -> Result<Vec<(Uuid, String, WarehouseKind, Option<String>)>, StoreError> {
        let sql = "SELECT s.product_id, s.warehouse, s.warehouse_kind, s.warehouse_id FROM stock_level s \
                   JOIN product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
                   WHERE s.tenant_id = $1 AND p.connection_id = $2 AND s.available <> 0 AND s.updated_at < $3";
        let rows: Vec<(Uuid, String, String, Option<String>)> = on_pool!(self.pool(), p => sqlx::query_as(sql)
            .bind(tenant_id).bind(connection_id).bind(since).fetch_all(p).await?);
        Ok(rows
            .into_iter()
            .map(|(id, warehouse, kind, warehouse_id)| (id, warehouse, WarehouseKind::parse(&kind), warehouse_id))
            .collect())
    }

    /// A product's most recent stock changes, newest first.
    pub async fn stock_history_of_product(
        &self,
        tenant_id: Uuid,
        product_id: Uuid,
        limit: u32,
    ) -> Result<Vec<StockChange>, StoreError> {
        let sql = "SELECT warehouse, previous_available, available, sync_run_id, recorded_at FROM stock_history \
                   WHERE tenant_id = $1 AND product_id = $2 ORDER BY recorded_at DESC, stock_history_id DESC LIMIT $3";
        Ok(
            on_pool!(self.pool(), p => sqlx::query_as(sql).bind(tenant_id).bind(product_id).bind(i64::from(limit)).fetch_all(p).await?),
        )
    }

    /// Writes observed quantities in one transaction: upserts the levels and appends a history
    /// row for each level whose available quantity changed. Returns the number of changes. When
    /// the same (product, warehouse) appears twice, the later observation wins.
    pub async fn record_stock_levels(
        &self,
        tenant_id: Uuid,
        observed: &[ObservedStock],
        sync_run_id: Option<Uuid>,
    ) -> Result<u64, StoreError> {
        let observed = last_observation_wins(observed);
        let changes = match self.pool() {
            // PostgreSQL takes each column as one array (UNNEST): a handful of binds per chunk
            // instead of thousands, which is what makes 100,000-row syncs fast there.
            Pool::Postgres(pool) => record_unnest(pool, tenant_id, &observed, sync_run_id).await?,
            Pool::Sqlite(pool) => record_values(pool, tenant_id, &observed, sync_run_id).await?,
        };
        self.written();
        Ok(changes)
    }
}

/// Observations deduplicated by (product, warehouse), keeping the last, in their original order.
fn last_observation_wins(observed: &[ObservedStock]) -> Vec<&ObservedStock> {
    let mut last: foldhash::HashMap<(Uuid, &str), usize> =
        HashMap::with_capacity_and_hasher(observed.len(), Default::default());
    for (i, o) in observed.iter().enumerate() {
        last.insert((o.product_id, o.warehouse.as_str()), i);
    }
    observed
        .iter()
        .enumerate()
        .filter(|(i, o)| last[&(o.product_id, o.warehouse.as_str())] == *i)
        .map(|(_, o)| o)
        .collect()
}

/// SQLite: per chunk, one statement records the changes against the levels as they stand (joined
/// in SQL, nothing read back), and one upserts the levels. Values shared by every row (tenant,
/// time, run) are bound once, after the rows' values.
async fn record_values(
    pool: &sqlx::SqlitePool,
    tenant_id: Uuid,
    observed: &[&ObservedStock],
    sync_run_id: Option<Uuid>,
) -> Result<u64, StoreError> {
    let at = now();
    let mut count = 0;
    let mut tx = pool.begin_write().await?;
    for chunk in observed.chunks(WRITE_CHUNK) {
        let mut q = sqlx::query(sqlx::AssertSqlSafe(sqlite_history_sql(chunk.len())));
        for o in chunk {
            q = q.bind(o.product_id).bind(o.warehouse.as_str()).bind(o.available);
        }
        // The chunk's change records take one UUIDv7 (monotonic in this process: time and
        // counter fill its first twelve bytes) with the last two bytes replaced by the record's
        // position in the chunk: later writes still sort after earlier ones, and one id is
        // drawn per chunk instead of one per row.
        let ids = Uuid::now_v7().simple().to_string();
        let q = q.bind(tenant_id).bind(at).bind(sync_run_id).bind(ids[..28].to_owned());
        count += q.execute(&mut *tx).await?.rows_affected();

        let mut q = sqlx::query(sqlx::AssertSqlSafe(sqlite_level_sql(chunk.len())));
        for o in chunk {
            q = q
                .bind(o.product_id)
                .bind(o.warehouse.as_str())
                .bind(o.available)
                .bind(o.kind.as_str())
                .bind(o.warehouse_id.as_deref());
        }
        q.bind(tenant_id).bind(at).bind(sync_run_id).execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(count)
}

// The rows' values are anonymous `?` placeholders and the shared values numbered ones after
// them: SQLite keeps numbered and named placeholders in a list that every bind searches from
// the start, so thousands of them would make a statement's binding quadratic.

/// SQLite: records a change for each of `rows` observations whose level exists with another
/// quantity (`CROSS JOIN`: SQLite then looks each row up by the level's key, where its planner
/// would otherwise scan the tenant's levels for every chunk). Binds: product, warehouse and
/// quantity per row, then tenant, time, run and the first 28 hex digits of the chunk's ids.
fn sqlite_history_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(400 + rows * 20);
    sql.push_str("WITH n (suffix, product_id, warehouse, available) AS (VALUES ");
    for i in 0..rows {
        let sep = if i == 0 { "" } else { ", " };
        let _ = write!(sql, "{sep}('{i:04x}', ?, ?, ?)");
    }
    let (tenant, at, run, ids) = (3 * rows + 1, 3 * rows + 2, 3 * rows + 3, 3 * rows + 4);
    let _ = write!(
        sql,
        ") INSERT INTO stock_history (tenant_id, stock_history_id, product_id, warehouse, previous_available, \
         available, sync_run_id, recorded_at) \
         SELECT ?{tenant}, unhex(?{ids} || n.suffix), n.product_id, n.warehouse, s.available, n.available, ?{run}, ?{at} \
         FROM n CROSS JOIN stock_level s \
           ON s.tenant_id = ?{tenant} AND s.product_id = n.product_id AND s.warehouse = n.warehouse \
         WHERE s.available <> n.available"
    );
    sql
}

/// SQLite: upserts `rows` levels. Binds: product, warehouse, quantity, kind and warehouse id per
/// row, then tenant, time and run.
fn sqlite_level_sql(rows: usize) -> String {
    let mut sql = String::with_capacity(400 + rows * 18);
    sql.push_str("WITH n (product_id, warehouse, available, warehouse_kind, warehouse_id) AS (VALUES ");
    for i in 0..rows {
        sql.push_str(if i == 0 { "(?, ?, ?, ?, ?)" } else { ", (?, ?, ?, ?, ?)" });
    }
    let (tenant, at, run) = (5 * rows + 1, 5 * rows + 2, 5 * rows + 3);
    let _ = write!(
        sql,
        ") INSERT INTO stock_level (tenant_id, product_id, warehouse, available, warehouse_kind, warehouse_id, \
         updated_at, first_sync_run_id) \
         SELECT ?{tenant}, product_id, warehouse, available, warehouse_kind, warehouse_id, ?{at}, ?{run} FROM n \
         WHERE true{UPSERT_TAIL}"
    );
    sql
}

/// The rows of `chunk` whose available quantity differs from `previous`, with the old quantity.
fn changes<'a>(chunk: &[&'a ObservedStock], previous: &HashMap<(Uuid, String), i64>) -> Vec<(&'a ObservedStock, i64)> {
    chunk
        .iter()
        .filter_map(|o| {
            let before = *previous.get(&(o.product_id, o.warehouse.clone()))?;
            (before != o.available).then_some((*o, before))
        })
        .collect()
}

/// PostgreSQL: one array per column.
async fn record_unnest(
    pool: &sqlx::PgPool,
    tenant_id: Uuid,
    observed: &[&ObservedStock],
    sync_run_id: Option<Uuid>,
) -> Result<u64, StoreError> {
    let at = now();
    let mut count = 0;
    let mut tx = pool.begin_write().await?;
    for chunk in observed.chunks(PG_CHUNK) {
        let product_ids: Vec<Uuid> = chunk.iter().map(|o| o.product_id).collect();
        let previous: HashMap<(Uuid, String), i64> = sqlx::query_as::<_, (Uuid, String, i64)>(
            "SELECT product_id, warehouse, available FROM stock_level WHERE tenant_id = $1 AND product_id = ANY($2)",
        )
        .bind(tenant_id)
        .bind(&product_ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|(id, w, a)| ((id, w), a))
        .collect();

        let warehouses: Vec<&str> = chunk.iter().map(|o| o.warehouse.as_str()).collect();
        let available: Vec<i64> = chunk.iter().map(|o| o.available).collect();
        let kinds: Vec<&str> = chunk.iter().map(|o| o.kind.as_str()).collect();
        let warehouse_ids: Vec<Option<&str>> = chunk.iter().map(|o| o.warehouse_id.as_deref()).collect();
        let sql = sqlx::AssertSqlSafe(format!(
            "INSERT INTO stock_level (tenant_id, product_id, warehouse, available, warehouse_kind, \
             warehouse_id, updated_at, first_sync_run_id) \
             SELECT $1, t.* , $7, $8 FROM UNNEST($2::uuid[], $3::text[], $4::int8[], $5::text[], $6::text[]) AS t{UPSERT_TAIL}"
        ));
        sqlx::query(sql)
            .bind(tenant_id)
            .bind(&product_ids)
            .bind(&warehouses)
            .bind(&available)
            .bind(&kinds)
            .bind(&warehouse_ids)
            .bind(at)
            .bind(sync_run_id)
            .execute(&mut *tx)
            .await?;

        let changed = changes(chunk, &previous);
        if !changed.is_empty() {
            let ids: Vec<Uuid> = changed.iter().map(|_| Uuid::now_v7()).collect();
            let products: Vec<Uuid> = changed.iter().map(|(o, _)| o.product_id).collect();
            let warehouses: Vec<&str> = changed.iter().map(|(o, _)| o.warehouse.as_str()).collect();
            let before: Vec<i64> = changed.iter().map(|(_, b)| *b).collect();
            let after: Vec<i64> = changed.iter().map(|(o, _)| o.available).collect();
            sqlx::query(
                "INSERT INTO stock_history (tenant_id, stock_history_id, product_id, warehouse, previous_available, \
                 available, sync_run_id, recorded_at) \
                 SELECT $1, t.*, $7, $8 FROM UNNEST($2::uuid[], $3::uuid[], $4::text[], $5::int8[], $6::int8[]) AS t",
            )
            .bind(tenant_id)
            .bind(&ids)
            .bind(&products)
            .bind(&warehouses)
            .bind(&before)
            .bind(&after)
            .bind(sync_run_id)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            count += changed.len() as u64;
        }
    }
    tx.commit().await?;
    Ok(count)
}

const UPSERT_TAIL: &str = " ON CONFLICT (tenant_id, product_id, warehouse) DO UPDATE SET available = excluded.available, \
     warehouse_kind = excluded.warehouse_kind, warehouse_id = excluded.warehouse_id, \
     updated_at = excluded.updated_at";

/// Rows per PostgreSQL statement (arrays have no bind limit; this bounds statement memory).
const PG_CHUNK: usize = 10_000;
// A change record's position in its SQLite chunk is the last four hex digits of its id.
const _: () = assert!(WRITE_CHUNK <= 0xffff);
