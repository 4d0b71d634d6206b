//! Orders and sales from the statistics API, as sale events. One cursor holds where each listing
//! stands (its last `lastChangeDate`) and which one the next call reads; the host keeps it
//! between syncs, so each sync reads only what changed.

use serde::{Deserialize, Serialize};
use stock_tracker_plugin_sdk::{AdapterError, Context, PageRequest, SalePage};

use crate::api::{OrderRow, STATISTICS_HOST, SaleRow};
use crate::{call, enabled, encode_query, mapping, parse, url};

/// WB answers at most about this many rows; fewer means the listing is done.
pub(crate) const ROWS_CAP: usize = 80_000;
/// Days of history WB keeps (and the first sync reads).
const HISTORY_DAYS: i64 = 90;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Cursor {
    /// `dateFrom` of the next orders request.
    orders: String,
    /// `dateFrom` of the next sales request.
    sales: String,
    /// Whether the next call reads sales (else orders).
    #[serde(default)]
    on_sales: bool,
}

impl Cursor {
    fn first() -> Self {
        let moscow = chrono::FixedOffset::east_opt(3 * 3600).expect("a valid offset");
        let from = (chrono::Utc::now().with_timezone(&moscow) - chrono::Duration::days(HISTORY_DAYS)).date_naive();
        let from = from.format("%Y-%m-%d").to_string();
        Self { orders: from.clone(), sales: from, on_sales: false }
    }
}

pub(crate) fn fetch(ctx: &Context, page: PageRequest) -> Result<SalePage, AdapterError> {
    if !enabled(ctx, "sales") {
        return Ok(SalePage { items: Vec::new(), cursor: page.cursor.unwrap_or_default(), more: false });
    }
    let mut cursor = match page.cursor.as_deref().filter(|c| !c.is_empty()) {
        Some(text) => {
            serde_json::from_str(text).map_err(|e| AdapterError::Internal(format!("bad sales cursor: {e}")))?
        }
        None => Cursor::first(),
    };
    let mut items = Vec::new();
    let more;
    if cursor.on_sales {
        let path = format!("/api/v1/supplier/sales?dateFrom={}&flag=0", encode_query(&cursor.sales));
        let resp = call(ctx, "GET", &url(ctx, STATISTICS_HOST, &path), None::<&()>, None)?;
        let sales: Vec<SaleRow> = parse(&resp, "sales")?;
        items.extend(sales.iter().filter_map(mapping::sale_event));
        if let Some(last) = sales.last() {
            cursor.sales.clone_from(&last.unit.last_change_date);
        }
        // The sales listing is the second: once it is done, so is the sync's part.
        more = sales.len() >= ROWS_CAP;
        cursor.on_sales = more;
    } else {
        let path = format!("/api/v1/supplier/orders?dateFrom={}&flag=0", encode_query(&cursor.orders));
        let resp = call(ctx, "GET", &url(ctx, STATISTICS_HOST, &path), None::<&()>, None)?;
        let orders: Vec<OrderRow> = parse(&resp, "orders")?;
        for row in &orders {
            mapping::order_events(row, &mut items);
        }
        if let Some(last) = orders.last() {
            cursor.orders.clone_from(&last.unit.last_change_date);
        }
        cursor.on_sales = orders.len() < ROWS_CAP;
        more = true;
    }
    Ok(SalePage { items, cursor: serde_json::to_string(&cursor).expect("a cursor serializes"), more })
}
