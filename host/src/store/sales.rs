//! Sales events (orders, sales, returns, cancellations) and their daily totals.
//!
//! Events are stored idempotently by (connection, kind, the marketplace's event id): the same
//! event written again replaces the stored one (a marketplace corrects rows it already sent).
//! Daily totals are summed per day of the tenant's time zone: the caller splits the range into
//! segments of one UTC offset ([`offset_segments`]) and each segment is integer arithmetic on
//! `occurred_unix`, the same on both backends.

use chrono::{DateTime, NaiveDate, TimeZone, Utc};
use sqlx::QueryBuilder;
use uuid::Uuid;

use super::{BeginWrite, Pool, Store, StoreError, now, on_pool};

/// What a sales event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SaleKind {
    Order,
    Sale,
    Return,
    Cancel,
}

impl SaleKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Order => "order",
            Self::Sale => "sale",
            Self::Return => "return",
            Self::Cancel => "cancel",
        }
    }
}

/// A sales event to store.
#[derive(Debug, Clone)]
pub struct NewSale {
    /// The marketplace's id (WB: `srid`).
    pub event_id: String,
    pub kind: SaleKind,
    pub product_id: Uuid,
    /// `None` when the marketplace names no warehouse.
    pub warehouse: Option<String>,
    pub quantity: i64,
    pub price_minor: Option<i64>,
    pub occurred_at: DateTime<Utc>,
}

/// One product's totals in one warehouse on one local day.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct DailySales {
    /// Days since 1970-01-01 in the tenant's time zone.
    pub day: i64,
    pub product_id: Uuid,
    pub sku: String,
    /// '' when the marketplace named none.
    pub warehouse: String,
    pub orders: i64,
    pub sales: i64,
    pub returns: i64,
    pub cancels: i64,
}

impl DailySales {
    pub fn date(&self) -> NaiveDate {
        NaiveDate::from_num_days_from_ce_opt(self.day as i32 + 719_163).unwrap_or_default()
    }
}

/// Filters of [`Store::daily_sales`].
#[derive(Debug, Clone, Default)]
pub struct SalesFilter {
    pub product_id: Option<Uuid>,
    pub warehouse: Option<String>,
}

const UPSERT_TAIL: &str = " ON CONFLICT (tenant_id, connection_id, kind, event_id) DO UPDATE SET \
     product_id = excluded.product_id, warehouse = excluded.warehouse, quantity = excluded.quantity, \
     price_minor = excluded.price_minor, occurred_at = excluded.occurred_at, \
     occurred_unix = excluded.occurred_unix, recorded_at = excluded.recorded_at";

/// Events deduplicated by (kind, id), keeping the last, in their original order: one statement
/// may not update the same row twice.
fn last_event_wins(sales: &[NewSale]) -> Vec<&NewSale> {
    let mut last: std::collections::HashMap<(SaleKind, &str), usize> =
        std::collections::HashMap::with_capacity(sales.len());
    for (i, s) in sales.iter().enumerate() {
        last.insert((s.kind, s.event_id.as_str()), i);
    }
    sales.iter().enumerate().filter(|(i, s)| last[&(s.kind, s.event_id.as_str())] == *i).map(|(_, s)| s).collect()
}

/// Local days `first..=last` of one UTC offset: `[start, end)` in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub offset_secs: i64,
    pub start_unix: i64,
    pub end_unix: i64,
}

/// Splits local days `from..=to` of `tz` into runs of days whose midnights have the same UTC
/// offset (one run unless the range crosses a daylight-saving change).
pub fn offset_segments<Tz: TimeZone>(tz: &Tz, from: NaiveDate, to: NaiveDate) -> Vec<Segment> {
    let midnight = |d: NaiveDate| {
        let local = d.and_hms_opt(0, 0, 0).expect("midnight exists");
        // A midnight skipped by a change is taken at its earliest valid reading.
        let at = tz.from_local_datetime(&local).earliest().unwrap_or_else(|| tz.from_utc_datetime(&local));
        (at.timestamp(), i64::from(chrono::Offset::fix(at.offset()).local_minus_utc()))
    };
    let mut segments: Vec<Segment> = Vec::new();
    let mut day = from;
    while day <= to {
        let (start, offset) = midnight(day);
        let (end, _) = midnight(day.succ_opt().expect("dates before 262143"));
        match segments.last_mut() {
            Some(last) if last.offset_secs == offset => last.end_unix = end,
            _ => segments.push(Segment { offset_secs: offset, start_unix: start, end_unix: end }),
        }
        day = day.succ_opt().expect("dates before 262143");
    }
    segments
}

impl Store {
    /// Writes sales events of one connection in one transaction; an event already stored (same
    /// kind and id) is replaced, and of an event given twice the later wins. Returns how many
    /// were written.
    pub async fn record_sales(
        &self,
        tenant_id: Uuid,
        connection_id: Uuid,
        sales: &[NewSale],
    ) -> Result<u64, StoreError> {
        let sales = last_event_wins(sales);
        let at = now();
        let mut written = 0;
        match self.pool() {
            // PostgreSQL takes each column as one array (UNNEST), as the stock writes do.
            Pool::Postgres(pool) => {
                let mut tx = pool.begin_write().await?;
                for chunk in sales.chunks(10_000) {
                    let kinds: Vec<&str> = chunk.iter().map(|s| s.kind.as_str()).collect();
                    let ids: Vec<&str> = chunk.iter().map(|s| s.event_id.as_str()).collect();
                    let products: Vec<Uuid> = chunk.iter().map(|s| s.product_id).collect();
                    let warehouses: Vec<&str> = chunk.iter().map(|s| s.warehouse.as_deref().unwrap_or("")).collect();
                    let quantities: Vec<i64> = chunk.iter().map(|s| s.quantity).collect();
                    let prices: Vec<Option<i64>> = chunk.iter().map(|s| s.price_minor).collect();
                    let times: Vec<DateTime<Utc>> = chunk.iter().map(|s| s.occurred_at).collect();
                    let unix: Vec<i64> = chunk.iter().map(|s| s.occurred_at.timestamp()).collect();
                    let sql = sqlx::AssertSqlSafe(format!(
                        "INSERT INTO sale_event (tenant_id, connection_id, kind, event_id, product_id, warehouse, \
                         quantity, price_minor, occurred_at, occurred_unix, recorded_at) \
                         SELECT $1, $2, t.*, $11 FROM UNNEST($3::text[], $4::text[], $5::uuid[], $6::text[], \
                         $7::int8[], $8::int8[], $9::timestamptz[], $10::int8[]) AS t{UPSERT_TAIL}"
                    ));
                    written += sqlx::query(sql)
                        .bind(tenant_id)
                        .bind(connection_id)
                        .bind(&kinds)
                        .bind(&ids)
                        .bind(&products)
                        .bind(&warehouses)
                        .bind(&quantities)
                        .bind(&prices)
                        .bind(&times)
                        .bind(&unix)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                }
                tx.commit().await?;
            }
            Pool::Sqlite(pool) => {
                let mut tx = pool.begin_write().await?;
                for chunk in sales.chunks(1000) {
                    let mut q = QueryBuilder::new(
                        "INSERT INTO sale_event (tenant_id, connection_id, kind, event_id, product_id, warehouse, \
                         quantity, price_minor, occurred_at, occurred_unix, recorded_at) ",
                    );
                    q.push_values(chunk, |mut row, s| {
                        row.push_bind(tenant_id)
                            .push_bind(connection_id)
                            .push_bind(s.kind.as_str())
                            .push_bind(s.event_id.clone())
                            .push_bind(s.product_id)
                            .push_bind(s.warehouse.clone().unwrap_or_default())
                            .push_bind(s.quantity)
                            .push_bind(s.price_minor)
                            .push_bind(s.occurred_at)
                            .push_bind(s.occurred_at.timestamp())
                            .push_bind(at);
                    });
                    q.push(UPSERT_TAIL);
                    written += q.build().execute(&mut *tx).await?.rows_affected();
                }
                tx.commit().await?;
            }
        }
        self.written();
        Ok(written)
    }

    /// Up to `limit` daily totals of one offset segment, ordered by day, product, warehouse,
    /// after the keyset position `after`.
    pub async fn daily_sales(
        &self,
        tenant_id: Uuid,
        filter: &SalesFilter,
        segment: Segment,
        after: Option<&(i64, Uuid, String)>,
        limit: u32,
    ) -> Result<Vec<DailySales>, StoreError> {
        Ok(on_pool!(self.pool(), p => {
            let mut q = QueryBuilder::new("SELECT (s.occurred_unix + ");
            q.push_bind(segment.offset_secs).push(") / 86400 AS day, s.product_id, p.sku, s.warehouse, \
                CAST(SUM(CASE WHEN s.kind = 'order' THEN s.quantity ELSE 0 END) AS BIGINT) AS orders, \
                CAST(SUM(CASE WHEN s.kind = 'sale' THEN s.quantity ELSE 0 END) AS BIGINT) AS sales, \
                CAST(SUM(CASE WHEN s.kind = 'return' THEN s.quantity ELSE 0 END) AS BIGINT) AS returns, \
                CAST(SUM(CASE WHEN s.kind = 'cancel' THEN s.quantity ELSE 0 END) AS BIGINT) AS cancels \
                FROM sale_event s JOIN product p ON p.tenant_id = s.tenant_id AND p.product_id = s.product_id \
                WHERE s.tenant_id = ");
            q.push_bind(tenant_id);
            q.push(" AND s.occurred_unix >= ").push_bind(segment.start_unix);
            q.push(" AND s.occurred_unix < ").push_bind(segment.end_unix);
            if let Some(product_id) = filter.product_id {
                q.push(" AND s.product_id = ").push_bind(product_id);
            }
            if let Some(warehouse) = &filter.warehouse {
                q.push(" AND s.warehouse = ").push_bind(warehouse.clone());
            }
            if let Some((day, product_id, warehouse)) = after {
                q.push(" AND ((s.occurred_unix + ").push_bind(segment.offset_secs).push(") / 86400, s.product_id, s.warehouse) > (")
                    .push_bind(*day).push(", ").push_bind(*product_id).push(", ").push_bind(warehouse.clone()).push(")");
            }
            q.push(" GROUP BY 1, s.product_id, p.sku, s.warehouse ORDER BY 1, s.product_id, s.warehouse LIMIT ")
                .push_bind(i64::from(limit));
            // A tenant-sized list: planned for its tenant on every run (store docs).
            q.build_query_as().persistent(false).fetch_all(p).await?
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_segment_without_daylight_saving_and_more_across_it() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let moscow: chrono_tz::Tz = "Europe/Moscow".parse().unwrap();
        let s = offset_segments(&moscow, d("2026-03-01"), d("2026-04-30"));
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].offset_secs, 3 * 3600);
        assert_eq!(s[0].start_unix, Utc.with_ymd_and_hms(2026, 2, 28, 21, 0, 0).unwrap().timestamp());
        assert_eq!(s[0].end_unix, Utc.with_ymd_and_hms(2026, 4, 30, 21, 0, 0).unwrap().timestamp());

        // Berlin moves to summer time on 2026-03-29: two segments that meet without a gap.
        let berlin: chrono_tz::Tz = "Europe/Berlin".parse().unwrap();
        let s = offset_segments(&berlin, d("2026-03-27"), d("2026-03-31"));
        assert_eq!(s.iter().map(|s| s.offset_secs).collect::<Vec<_>>(), [3600, 7200]);
        assert_eq!(s[0].end_unix, s[1].start_unix);
        assert_eq!(s[1].start_unix, Utc.with_ymd_and_hms(2026, 3, 29, 22, 0, 0).unwrap().timestamp());

        let one_day = DailySales {
            day: (Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap().timestamp()) / 86400,
            product_id: Uuid::nil(),
            sku: String::new(),
            warehouse: String::new(),
            orders: 0,
            sales: 0,
            returns: 0,
            cancels: 0,
        };
        assert_eq!(one_day.date(), d("2026-12-01"));
    }
}
